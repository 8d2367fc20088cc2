// What a user embeds: the server calls these on its loop thread, one connection at a time, never concurrently.
using EpollServer.Buffers;
using EpollServer.Net;

namespace EpollServer.Protocols;

public interface IProtocolHandler
{
    // Shown in logs and stats ("echo", "line", ...).
    string Name { get; }

    // True when the server waits for the client's first bytes (echo, line): the first-byte timeout applies. A
    // protocol that greets and then may legitimately wait (chat) says false.
    bool ClientSpeaksFirst => true;

    void OnOpen(Connection connection)
    {
    }

    // Offers every unconsumed input byte; returns how many were consumed (0..data.Length). Bytes left unconsumed
    // are offered again, with anything new behind them, on the next call. Answers go out through connection.Write;
    // when the output is too full to take an answer, consume less: reading stops until the peer catches up, and the
    // rest is offered again then.
    int OnData(Connection connection, ReadableBytes data);

    // The peer shut down its sending side (read returned 0). `remaining` is what OnData left unconsumed: the last
    // chance to answer it (a final line without a newline, say). What is written here is still delivered before
    // the server closes.
    void OnInputEnded(Connection connection, ReadableBytes remaining)
    {
    }

    void OnClose(Connection connection)
    {
    }

    // Messages handled so far (a line, a request: whatever the protocol calls one), for the stats line and the
    // epollserver.messages metric; read from any thread. A handler that does not count leaves it 0.
    long MessagesHandled => 0;

    // The handler's own counters for the stats line ("lines-too-long=2 ..."), or null; read from any thread.
    string? DescribeCounters() => null;
}
