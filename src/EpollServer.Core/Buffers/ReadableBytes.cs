// The bytes a handler is offered: the readable region of an input ring, which may wrap into two spans.
namespace EpollServer.Buffers;

public readonly ref struct ReadableBytes
{
    public ReadableBytes(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        // Normalise so that First is empty only when everything is.
        if (first.IsEmpty)
        {
            first = second;
            second = default;
        }
        First = first;
        Second = second;
    }

    public ReadOnlySpan<byte> First { get; }

    public ReadOnlySpan<byte> Second { get; }

    public int Length => First.Length + Second.Length;

    public bool IsEmpty => First.IsEmpty;

    public bool IsSingleSegment => Second.IsEmpty;

    public byte this[int index] => index < First.Length ? First[index] : Second[index - First.Length];

    public int IndexOf(byte value)
    {
        int i = First.IndexOf(value);
        if (i >= 0)
            return i;
        int j = Second.IndexOf(value);
        return j < 0 ? -1 : First.Length + j;
    }

    public ReadableBytes Slice(int start, int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)start + (uint)length, (uint)Length);
        if (start >= First.Length)
            return new ReadableBytes(Second.Slice(start - First.Length, length), default);
        int inFirst = Math.Min(length, First.Length - start);
        return new ReadableBytes(First.Slice(start, inFirst), Second[..(length - inFirst)]);
    }

    public ReadableBytes Slice(int start) => Slice(start, Length - start);

    public void CopyTo(Span<byte> destination)
    {
        First.CopyTo(destination);
        Second.CopyTo(destination[First.Length..]);
    }

    public byte[] ToArray()
    {
        var copy = new byte[Length];
        CopyTo(copy);
        return copy;
    }
}
