// The requests of the request/reply scenarios and the exact reply each must get. A request is `size` bytes: its
// sequence number in hex (so a reordered, repeated or lost reply is caught, not only a corrupted one), a fixed
// letter pattern, and a newline, so the same bytes serve echo and the line protocols.
namespace EpollServer.LoadTests.Engine;

internal sealed class MessageFormat
{
    public const int MinimumSize = 2;

    private readonly byte[] _request;
    private readonly byte[] _expected;
    private readonly int _digits;
    private readonly bool _reversed;

    private MessageFormat(int size, bool reversed)
    {
        if (size < MinimumSize)
            throw new ArgumentOutOfRangeException(nameof(size), $"a message needs at least {MinimumSize} bytes");
        Size = size;
        _reversed = reversed;
        _digits = Math.Min(16, size - 1);
        _request = new byte[size];
        for (int i = 0; i < size - 1; i++)
            _request[i] = (byte)('a' + i % 26);
        _request[^1] = (byte)'\n';
        _expected = (byte[])_request.Clone();
        if (reversed)
            _expected.AsSpan(0, size - 1).Reverse();
    }

    public int Size { get; }

    // echo and line answer with the request itself.
    public static MessageFormat Echo(int size) => new(size, reversed: false);

    // reverse answers with the line's characters in reverse order; the request is ASCII, so byte order reversed.
    public static MessageFormat Reverse(int size) => new(size, reversed: true);

    public void WriteRequest(long sequence, Span<byte> destination)
    {
        _request.CopyTo(destination);
        WriteHex(sequence, destination[.._digits], reversed: false);
    }

    public void WriteExpected(long sequence, Span<byte> destination)
    {
        _expected.CopyTo(destination);
        if (_reversed)
            WriteHex(sequence, destination.Slice(Size - 1 - _digits, _digits), reversed: true);
        else
            WriteHex(sequence, destination[.._digits], reversed: false);
    }

    // The low digits of the sequence number, most significant first (or last, for the reversed reply).
    private static void WriteHex(long value, Span<byte> destination, bool reversed)
    {
        for (int i = destination.Length - 1; i >= 0; i--)
        {
            int position = reversed ? destination.Length - 1 - i : i;
            destination[position] = (byte)"0123456789abcdef"[(int)(value & 0xF)];
            value >>= 4;
        }
    }
}
