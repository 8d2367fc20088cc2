// line: the CS:APP echo server's readline semantics. Each line comes back exactly as sent (a CR before the LF
// included); a last line without a LF is still echoed when the peer shuts down its side.
using EpollServer.Net;

namespace EpollServer.Protocols;

public sealed class LineEchoHandler(int maxLineLength = LineProtocolHandler.DefaultMaxLineLength)
    : LineProtocolHandler(maxLineLength)
{
    public override string Name => "line";

    protected override bool OnLine(Connection connection, ReadOnlySpan<byte> line, bool endsWithNewline)
    {
        int newline = endsWithNewline ? 1 : 0;
        if (connection.OutputSpace < line.Length + newline)
            return false;
        connection.Write(line);
        if (endsWithNewline)
            connection.Write("\n"u8);
        return true;
    }
}
