// A request body in Transfer-Encoding: chunked (RFC 9112 7.1), decoded as it streams through and dropped: chunk-size
// lines (at most 8 hex digits, extensions skipped but free of control characters, the line at most 1 KiB), each
// chunk's data and the line end after it, then the trailer section, whose lines are checked like header fields and
// bounded like a head (the field limit, 8 KiB). The decoded size is held to the body limit. Lines end the way the
// head's did (CRLF, or bare LF for a bare-LF head): a message is framed one way. One per connection, reused.
using static EpollServer.Protocols.Http.HttpFieldRules;

namespace EpollServer.Protocols.Http;

internal sealed class HttpChunkedBody
{
    public const int MaxChunkLine = 1024;
    public const int MaxSizeDigits = 8;

    private enum Part
    {
        Size,       // a chunk-size line
        Data,       // DataLeft bytes of a chunk
        DataEnd,    // the empty line after a chunk's data
        Trailers,   // trailer field lines, up to an empty line
        Done,
    }

    private Part _part = Part.Done;
    private bool _crlf;
    private int _maxFields;
    private long _decoded;
    private int _trailerFields;
    private int _trailerBytes;

    public long DataLeft { get; private set; }

    public bool Done => _part == Part.Done;

    // The most bytes the line being waited for may take: the window the caller offers to ReadLine.
    public int MaxLine => _part == Part.Trailers ? HttpHandler.MaxHead - _trailerBytes + 2 : MaxChunkLine;

    public void Start(bool crlf, int maxFields)
    {
        (_part, _crlf, _maxFields) = (Part.Size, crlf, maxFields);
        (_decoded, _trailerFields, _trailerBytes, DataLeft) = (0, 0, 0, 0);
    }

    public void Skipped(int count)
    {
        DataLeft -= count;
        if (DataLeft == 0)
            _part = Part.DataEnd;
    }

    // The last line was read but the answer could not be written yet: it is offered again.
    public void Reopen() => _part = Part.Trailers;

    // Reads the line at the start of `window` (every byte available, up to MaxLine of them): returns its length with
    // its line end, or 0 while it is incomplete; `status` is the refusal when it is wrong.
    public int ReadLine(ReadOnlySpan<byte> window, out int status)
    {
        int lf = window.IndexOf((byte)'\n');
        status = lf < 0 && window.Length >= MaxLine || lf >= MaxLine ? TooLong() : 0;
        if (lf < 0 || status != 0)
            return 0;
        bool cr = lf > 0 && window[lf - 1] == (byte)'\r';
        if (cr != _crlf)
        {
            status = 400;   // a line end unlike the head's
            return 0;
        }
        status = Take(window[..(cr ? lf - 1 : lf)], lf + 1);
        return lf + 1;
    }

    private int TooLong() => _part == Part.Trailers ? 431 : 400;

    private int Take(ReadOnlySpan<byte> line, int length)
    {
        switch (_part)
        {
            case Part.Size:
                return TakeSize(line);
            case Part.DataEnd:
                _part = Part.Size;
                return line.IsEmpty ? 0 : 400;   // the data was longer than its size said
            default:
                return TakeTrailer(line, length);
        }
    }

    // chunk-size [ chunk-ext ]: hex digits, then nothing, or extensions (BWS ";" ...) that are skipped.
    private int TakeSize(ReadOnlySpan<byte> line)
    {
        int digits = line.IndexOfAnyExcept(HexDigits);
        digits = digits < 0 ? line.Length : digits;
        if (digits == 0 || digits > MaxSizeDigits)
            return 400;
        ReadOnlySpan<byte> extension = line[digits..];
        if (!extension.IsEmpty && extension[0] is not ((byte)';' or (byte)' ' or (byte)'\t') || HasControl(extension))
            return 400;
        long size = 0;
        foreach (byte digit in line[..digits])
            size = size * 16 + (digit <= '9' ? digit - '0' : (digit | 0x20) - 'a' + 10);
        _decoded += size;
        if (_decoded > HttpHandler.MaxBody)
            return 413;
        (_part, DataLeft) = size == 0 ? (Part.Trailers, 0L) : (Part.Data, size);
        return 0;
    }

    private int TakeTrailer(ReadOnlySpan<byte> line, int length)
    {
        if (line.IsEmpty)
        {
            _part = Part.Done;
            return 0;
        }
        _trailerBytes += length;
        if (++_trailerFields > _maxFields || _trailerBytes > HttpHandler.MaxHead)
            return 431;
        return TrySplitField(line, out _, out _) ? 0 : 400;
    }
}
