// proxy: a TCP gateway on the loop. Every client gets a connection of its own to the upstream (LoopContext.Connect),
// and bytes flow both ways unchanged. Backpressure works in both directions with no buffer beyond the four rings:
// when one side's output cannot take more, the other side stops reading (PauseReading) until that output has drained
// (OnWritable). A FIN is passed on as a FIN once everything before it is delivered (half-close); a reset or an error on
// either side resets the other. A client whose upstream cannot be reached, or not within --connect-timeout, is closed
// without a byte, and that is counted.
using EpollServer.Buffers;
using EpollServer.Net;

namespace EpollServer.Protocols;

public sealed partial class ProxyHandler : IProtocolHandler
{
    public const string UpstreamReset = "upstream-reset";
    public const string ClientReset = "client-reset";

    private readonly string _host;
    private readonly int _port;
    private readonly UpstreamSide _upstream;
    private long _forwarded;
    private long _unreachable;

    // clientSpeaksFirst: the upstream waits for the client (HTTP, Redis), so a client that stays silent is a slot
    // holder, and the first-byte timeout closes it; false (the default) for an upstream that may greet first.
    public ProxyHandler(string host, int port, bool clientSpeaksFirst = false)
    {
        _host = host;
        _port = port;
        ClientSpeaksFirst = clientSpeaksFirst;
        _upstream = new UpstreamSide(this);
    }

    public string Name => "proxy";

    // Unless told otherwise, the upstream may be the one to speak first (a greeting): a client that waits for it is
    // not silent.
    public bool ClientSpeaksFirst { get; }

    // Half-close: a client's FIN is passed on, and the upstream may still answer.
    public bool KeepsOutputOpenAfterInputEnds => true;

    // The client's fd and its upstream's.
    public int FdsPerConnection => 2;

    // Chunks forwarded in either direction.
    public long MessagesHandled => Volatile.Read(ref _forwarded);

    // Clients closed because their upstream refused, did not resolve, or timed out.
    public long UpstreamUnreachable => Volatile.Read(ref _unreachable);

    public IEnumerable<KeyValuePair<string, long>> Counters => [new("upstream-unreachable", UpstreamUnreachable)];

    public void OnOpen(Connection connection)
    {
        Connection upstream = connection.Context.Connect(_host, _port, _upstream);
        connection.State = upstream;
        upstream.State = connection;
    }

    public int OnData(Connection connection, ReadableBytes data) => Forward(connection, Peer(connection), data);

    // The client's FIN goes on to the upstream once the client's bytes before it have.
    public void OnInputEnded(Connection connection, ReadableBytes remaining) => ForwardEnd(connection, remaining);

    public void OnWritable(Connection connection) => Peer(connection)?.ResumeReading();

    public void OnClose(Connection connection) => EndPeer(connection, ClientReset);

    // Takes what the other side's output can hold. The rest stays in this side's input, and reading stops until the
    // other side has sent enough (OnWritable resumes it): memory stays at the rings, however fast either side is.
    private int Forward(Connection from, Connection? to, ReadableBytes data)
    {
        if (to is null || to.IsClosing)
            return data.Length;   // the other side is gone or going: nothing more can reach it
        int count = Math.Min(data.Length, to.OutputSpace);
        to.Write(data.Slice(0, count));
        if (count < data.Length)
        {
            from.PauseReading();
            to.NotifyWhenWritable();
        }
        if (count > 0)
            _forwarded++;   // one writer, the loop thread
        return count;
    }

    // The end of one side's input: its last bytes (the loop offers the end only once the other side has room for them,
    // so they fit), then the FIN, after them.
    private void ForwardEnd(Connection from, ReadableBytes remaining)
    {
        Connection? to = Peer(from);
        Forward(from, to, remaining);
        to?.ShutdownOutput();
    }

    // One side is closed: a reset or an error is passed on as a reset, anything else as a close after a flush.
    private void EndPeer(Connection closed, string resetReason)
    {
        if (Peer(closed) is not { IsClosed: false } peer)
            return;
        peer.State = null;
        switch (closed.ClosedBecause)
        {
            case CloseReason.Reset or CloseReason.Error or CloseReason.Aborted or CloseReason.HandlerError:
                peer.Abort(resetReason);
                break;
            case CloseReason.ConnectFailed when closed.ConnectError.IsFdExhaustion:
                peer.Close();   // not the upstream's fault: counted as outgoing no-fds, and the server's reserve given back
                break;
            case CloseReason.ConnectFailed or CloseReason.ConnectTimeout:
                Interlocked.Increment(ref _unreachable);
                peer.Close();
                break;
            default:
                peer.Close();
                break;
        }
    }

    private static Connection? Peer(Connection connection) => connection.State as Connection;

    // The handler of the upstream connections: the same forwarding, seen from the other side.
    private sealed class UpstreamSide(ProxyHandler proxy) : IProtocolHandler
    {
        public string Name => "proxy-upstream";

        public bool KeepsOutputOpenAfterInputEnds => true;

        public int OnData(Connection connection, ReadableBytes data) => proxy.Forward(connection, Peer(connection), data);

        public void OnInputEnded(Connection connection, ReadableBytes remaining) => proxy.ForwardEnd(connection, remaining);

        public void OnWritable(Connection connection) => Peer(connection)?.ResumeReading();

        public void OnClose(Connection connection) => proxy.EndPeer(connection, UpstreamReset);
    }
}
