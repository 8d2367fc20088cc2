// reverse: each line sent back reversed by user-perceived characters (grapheme clusters), so "안녕하세요" comes back
// "요세하녕안" and "e" + U+0301 or a family emoji stays whole. A line that is not UTF-8 gets a one-line error.
using System.Globalization;
using System.Text.Unicode;
using EpollServer.Net;

namespace EpollServer.Protocols;

public sealed class ReverseHandler : LineProtocolHandler
{
    private static ReadOnlySpan<byte> InvalidUtf8Reply => "ERR line is not valid UTF-8\n"u8;

    // Scratch for one line, owned by the loop thread: UTF-16 never needs more code units than UTF-8 has bytes.
    private readonly char[] _text;
    private readonly char[] _reversed;
    private readonly byte[] _encoded;
    private long _invalidLines;

    public ReverseHandler(int maxLineLength = DefaultMaxLineLength)
        : base(maxLineLength)
    {
        _text = new char[maxLineLength];
        _reversed = new char[maxLineLength];
        _encoded = new byte[maxLineLength];
    }

    public override string Name => "reverse";

    public long InvalidLines => Volatile.Read(ref _invalidLines);

    public override IEnumerable<KeyValuePair<string, long>> Counters => [.. base.Counters, new("invalid-utf8-lines", InvalidLines)];

    protected override bool OnLine(Connection connection, ReadOnlySpan<byte> line, bool endsWithNewline)
    {
        ReadOnlySpan<byte> text = SplitCarriageReturn(line, out bool hadCarriageReturn);
        ReadOnlySpan<byte> terminator = Terminator(hadCarriageReturn, endsWithNewline);
        // The reversed line has the same bytes as the original, and the error line is shorter than the room checked.
        if (connection.OutputSpace < Math.Max(text.Length + terminator.Length, InvalidUtf8Reply.Length))
            return false;
        if (!TryReverse(text, out ReadOnlySpan<byte> reversed))
        {
            Interlocked.Increment(ref _invalidLines);
            connection.Write(InvalidUtf8Reply);
            connection.ReportPeerError("line is not valid UTF-8");
            return true;
        }
        connection.Write(reversed);
        connection.Write(terminator);
        return true;
    }

    // Strict decoding (no replacement characters: an overlong form or a lone surrogate is an error), then the
    // clusters copied back to front, then encoded again; no allocation.
    private bool TryReverse(ReadOnlySpan<byte> utf8, out ReadOnlySpan<byte> reversed)
    {
        reversed = default;
        if (Utf8.ToUtf16(utf8, _text, out _, out int length, replaceInvalidSequences: false) != System.Buffers.OperationStatus.Done)
            return false;
        ReadOnlySpan<char> text = _text.AsSpan(0, length);
        Span<char> output = _reversed.AsSpan(0, length);
        for (int start = 0; start < length;)
        {
            int cluster = StringInfo.GetNextTextElementLength(text[start..]);
            text.Slice(start, cluster).CopyTo(output[(length - start - cluster)..]);
            start += cluster;
        }
        Utf8.FromUtf16(output, _encoded, out _, out int written);
        reversed = _encoded.AsSpan(0, written);
        return true;
    }
}
