// What a user embeds: the loop calls these on its thread, one connection at a time, never concurrently, and never one
// callback inside another (a close's OnClose comes after the callback that caused it has returned). The same contract
// serves accepted connections (the server's protocol) and connections a handler opens (LoopContext.Connect).
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

    // The fds one accepted connection costs while open: 1, or 2 for a handler that opens a connection of its own for
    // each (a proxy's upstream). The connection cap the server derives from the fd limit divides by it.
    int FdsPerConnection => 1;

    // Once the server is bound, before it serves: why this handler cannot serve on these addresses (a proxy whose
    // upstream is the server itself), or null. The server refuses to start with that reason.
    string? CheckListening(IReadOnlyList<System.Net.IPEndPoint> listening) => null;

    // Accepted, or (for a connection a handler opened) connected.
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

    // Once per connection, opened or not (a connect that failed gets only this; ClosedBecause and ConnectFailure say why).
    void OnClose(Connection connection)
    {
    }

    // The request in progress stayed incomplete for --request-timeout (its head never ended, or a body held with
    // HoldRequestTimer trickled). What is written here (an HTTP 408) is delivered before the close; writing nothing
    // (the default) closes at once. The connection closes either way.
    void OnRequestTimeout(Connection connection)
    {
    }

    // After NotifyWhenWritable: the output has drained to the low watermark, so there is room to write again.
    void OnWritable(Connection connection)
    {
    }

    // False (the default): once the peer's input has ended and been answered, the connection closes when what is owed
    // is sent, as a request/reply protocol wants. True: it stays open for output until the handler calls
    // ShutdownOutput or Close (a proxy passing a half-close on).
    bool KeepsOutputOpenAfterInputEnds => false;

    // Messages handled so far (a line, a request: whatever the protocol calls one), for the stats line and the
    // epollserver.messages metric; read from any thread. A handler that does not count leaves it 0.
    long MessagesHandled => 0;

    // The handler's own counters by name ("lines-too-long" = 2), for the stats line, the snapshot and the meter;
    // read from any thread.
    IEnumerable<KeyValuePair<string, long>> Counters => [];

    // The protocol's datagram form, served with --udp; null when it has none.
    IDatagramHandler? Datagrams => null;
}
