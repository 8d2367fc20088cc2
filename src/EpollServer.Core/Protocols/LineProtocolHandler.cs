// The framing every line protocol shares: readline semantics over the input ring, a maximum line length, and the
// last line without a newline served at EOF. Subclasses see one complete line at a time.
using EpollServer.Buffers;
using EpollServer.Net;

namespace EpollServer.Protocols;

public abstract class LineProtocolHandler : IProtocolHandler
{
    public const int DefaultMaxLineLength = 8 * 1024;

    private readonly byte[] _wrappedLine;   // a line that wraps the ring end is copied here to be contiguous
    private readonly byte[] _tooLongReply;
    private readonly string _tooLongReason;
    private long _linesTooLong;
    private long _linesServed;

    // One instance per server: the scratch buffers belong to its loop thread.
    protected LineProtocolHandler(int maxLineLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineLength, 1);
        MaxLineLength = maxLineLength;
        _wrappedLine = new byte[maxLineLength];
        _tooLongReply = System.Text.Encoding.ASCII.GetBytes($"ERR line longer than {maxLineLength} bytes; closing\n");
        _tooLongReason = $"line longer than {maxLineLength} bytes; closed";
    }

    public abstract string Name { get; }

    // The longest line accepted, not counting its LF (a CR before the LF counts).
    public int MaxLineLength { get; }

    public long LinesTooLong => Volatile.Read(ref _linesTooLong);

    // Lines served; written by the loop thread only.
    public long MessagesHandled => Volatile.Read(ref _linesServed);

    public virtual bool ClientSpeaksFirst => true;

    // Serves one complete line: `line` excludes the LF and keeps a CR before it; `endsWithNewline` is false only
    // for a final line at EOF. Returns false, before writing anything, when the output has no room for the answer:
    // the line is offered again once the peer has read some of what it is owed.
    protected abstract bool OnLine(Connection connection, ReadOnlySpan<byte> line, bool endsWithNewline);

    public virtual void OnOpen(Connection connection)
    {
    }

    public virtual void OnClose(Connection connection)
    {
    }

    public virtual IEnumerable<KeyValuePair<string, long>> Counters => [new("lines-too-long", LinesTooLong)];

    public int OnData(Connection connection, ReadableBytes data)
    {
        int consumed = 0;
        while (!connection.IsClosing && !connection.IsReadingPaused)   // a line may pause the rest (chat's /nick)
        {
            ReadableBytes rest = data.Slice(consumed);
            int newline = rest.IndexOf((byte)'\n');
            int lineLength = newline < 0 ? rest.Length : newline;
            if (lineLength > MaxLineLength)
                return RejectLongLine(connection) ? data.Length : consumed;
            if (newline < 0 || !OnLine(connection, Contiguous(rest.Slice(0, lineLength)), endsWithNewline: true))
                return consumed;
            _linesServed++;
            consumed += lineLength + 1;
        }
        return consumed;
    }

    // Lines still complete are served first; then what is left, a line whose LF never came, is served as it is.
    public void OnInputEnded(Connection connection, ReadableBytes remaining)
    {
        int consumed = OnData(connection, remaining);
        if (connection.IsClosing || consumed == remaining.Length)
            return;
        if (OnLine(connection, Contiguous(remaining.Slice(consumed)), endsWithNewline: false))
            _linesServed++;
    }

    // One line in the reply, then the flushed close (the rest of the input is read and dropped by the lingering
    // close). False when even that line does not fit yet: it is retried when the output drains.
    private bool RejectLongLine(Connection connection)
    {
        if (!connection.Write(_tooLongReply))
            return false;
        Interlocked.Increment(ref _linesTooLong);
        connection.ReportPeerError(_tooLongReason);
        connection.Close();
        return true;
    }

    private ReadOnlySpan<byte> Contiguous(ReadableBytes line)
    {
        if (line.IsSingleSegment)
            return line.First;
        line.CopyTo(_wrappedLine);
        return _wrappedLine.AsSpan(0, line.Length);
    }

    // Helpers for the subclasses' replies: `terminator` mirrors how the line ended (CR LF, LF, or nothing at EOF).
    protected static ReadOnlySpan<byte> SplitCarriageReturn(ReadOnlySpan<byte> line, out bool hadCarriageReturn)
    {
        hadCarriageReturn = !line.IsEmpty && line[^1] == (byte)'\r';
        return hadCarriageReturn ? line[..^1] : line;
    }

    protected static ReadOnlySpan<byte> Terminator(bool hadCarriageReturn, bool endsWithNewline) =>
        !endsWithNewline ? (hadCarriageReturn ? "\r"u8 : default) : hadCarriageReturn ? "\r\n"u8 : "\n"u8;
}
