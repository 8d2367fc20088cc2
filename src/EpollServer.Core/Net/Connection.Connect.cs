// Outgoing connections on the loop: a non-blocking connect (EINPROGRESS, then writability and SO_ERROR), a host name
// resolved off the loop thread, the connect timeout, and then the same stream as an accepted connection. The handler
// hears OnOpen once connected; a connection that never opens gets only OnClose (ConnectFailed or ConnectTimeout,
// with ConnectError saying why).
using System.Net;
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Protocols;
using EpollServer.Reactor;
using Microsoft.Extensions.Logging;

namespace EpollServer.Net;

public sealed partial class LoopContext
{
    // Starts connecting to `remote`; the connection is returned at once (not yet open) so that the caller can pair it
    // with whatever it serves (State). Loop thread only, like everything on a connection.
    public Connection Connect(IPEndPoint remote, IProtocolHandler handler)
    {
        Connection connection = Connection.StartOutgoing(this, handler, new PeerAddress(remote), remote.ToString());
        connection.BeginConnect(remote);
        return connection;
    }

    // The same for a host name: an IP literal connects at once; a name is resolved on the thread pool (getaddrinfo
    // blocks), and the connect starts back on this loop. The connect timeout covers the resolution too.
    public Connection Connect(string host, int port, IProtocolHandler handler)
    {
        if (IPAddress.TryParse(host, out IPAddress? address))
            return Connect(new IPEndPoint(address, port), handler);
        Connection connection = Connection.StartOutgoing(this, handler, default, $"{host}:{port}");
        connection.Resolve(host, port);
        return connection;
    }

    // Where an outgoing connection's socket comes from: socket(2), unless a test makes it fail (EMFILE) without
    // running the process out of fds.
    internal Func<int, SyscallResult> OpenSocket { get; set; } = family => Sys.Socket(family, Libc.SOCK_STREAM);

    // The owner's answer to running out of fds for one (the server gives its reserve to the runtime, as at accept).
    internal Action<Errno>? OutOfFds { get; set; }

    private bool _outOfFds;   // from the first EMFILE until a socket opens again: one episode, one log line

    internal void OnSocketFailed(Connection connection, Errno error)
    {
        Counters[Counter.ConnectsNoFds]++;
        if (!_outOfFds)
        {
            _outOfFds = true;
            Logger.LogWarning("out of file descriptors ({Error}) for an outgoing connection ({Connection}): it fails, and what waits " +
                "on it (a proxy's client) is closed; not logged again until a socket opens", error, connection);
        }
        OutOfFds?.Invoke(error);
    }

    internal void OnSocketOpened() => _outOfFds = false;
}

public sealed partial class Connection
{
    // What only an outgoing connection needs, kept apart: an accepted one (10,000 idle, say) does not carry it.
    private sealed class Outgoing(string remoteName)
    {
        public string RemoteName { get; } = remoteName;

        public bool Connecting { get; set; }   // connect(2) returned EINPROGRESS; writability will say how it went

        public bool Resolving { get; set; }    // waiting for the host name

        public IPAddress[]? Candidates { get; set; }   // what the name resolved to, tried in order until one connects

        public int NextCandidate { get; set; }

        public int Port { get; set; }

        public Errno Error { get; set; }
    }

    private Outgoing? _outgoing;

    private bool IsConnecting => _outgoing?.Connecting == true;

    // Not yet a connected socket: the name is being looked up, or the handshake is under way. What the handler writes
    // meanwhile waits in the output ring.
    private bool Establishing => _outgoing is { } o && (o.Connecting || o.Resolving);

    // Why an outgoing connection failed (ECONNREFUSED, ETIMEDOUT, ...); None otherwise. A name that did not resolve
    // is EHOSTUNREACH.
    internal Errno ConnectError => _outgoing?.Error ?? Errno.None;

    // The same in words ("ECONNREFUSED (111): Connection refused"), or null when no connect failed.
    public string? ConnectFailure => ConnectError == Errno.None ? null : ConnectError.ToString();

    internal static Connection StartOutgoing(LoopContext context, IProtocolHandler handler, PeerAddress peer, string remoteName)
    {
        var connection = new Connection(context, -1, peer, handler, accepted: false) { _outgoing = new Outgoing(remoteName) };
        context.Connections.Add(connection);
        context.Counters[Counter.ConnectsStarted]++;
        if (context.ConnectQueue is { } timeouts)
            timeouts.Touch(connection._waiting = new DeadlineLink<Connection>(connection));
        return connection;
    }

    // Even a connect that succeeds at once is finished from the writable event, never here: the handler's OnOpen must
    // not run inside the callback of whoever asked for the connection.
    internal void BeginConnect(IPEndPoint remote)
    {
        Outgoing outgoing = _outgoing!;
        outgoing.Resolving = false;
        _peer = new PeerAddress(remote);
        uint length = SocketAddresses.Write(remote, out Libc.sockaddr_storage address, out int family);
        SyscallResult socket = _context.OpenSocket(family);
        if (!socket.Ok)
        {
            if (socket.Error.IsFdExhaustion)
                _context.OnSocketFailed(this, socket.Error);
            FailConnect(socket.Error);
            return;
        }
        _context.OnSocketOpened();
        Fd = socket.Fd;
        if (_context.Options.NoDelay)
            Sys.SetSockOpt(Fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, 1);
        SyscallResult connected = Sys.Connect(Fd, address, length);
        if (!connected.Ok && connected.Error != Errno.EINPROGRESS)
        {
            FailConnect(connected.Error);
            return;
        }
        outgoing.Connecting = true;
        SyscallResult registered = _context.Loop.Register(this, Fd, Interest.Write, out _token);
        if (!registered.Ok)
            FailConnect(registered.Error);
        else
            _interest = Interest.Write;
    }

    internal void Resolve(string host, int port)
    {
        Outgoing outgoing = _outgoing!;
        outgoing.Resolving = true;
        EventLoop loop = _context.Loop;
        _ = Dns.GetHostAddressesAsync(host).ContinueWith(resolved => loop.Post(() =>
        {
            if (IsClosed)
                return;   // aborted, or timed out, while the name was being looked up
            outgoing.Candidates = resolved.IsCompletedSuccessfully ? resolved.Result : [];
            outgoing.Port = port;
            if (outgoing.Candidates.Length == 0)
                FailConnect(Errno.EHOSTUNREACH);
            else
                BeginConnect(new IPEndPoint(outgoing.Candidates[outgoing.NextCandidate++], port));
        }), TaskScheduler.Default);
    }

    // Writable (or failed): SO_ERROR says whether the connect succeeded.
    private void FinishConnect()
    {
        SyscallResult error = Sys.GetSockOpt(Fd, Libc.SOL_SOCKET, Libc.SO_ERROR);
        if (!error.Ok || error.Value != 0)
        {
            FailConnect(error.Ok ? new Errno((int)error.Value) : error.Error);
            return;
        }
        if (_waiting is { Queued: true })
            _context.ConnectQueue!.Remove(_waiting);
        _outgoing!.Connecting = false;
        _context.Counters[Counter.ConnectsSucceeded]++;
        StartTimeouts();
        try
        {
            Handler.OnOpen(this);
        }
        catch (Exception e)
        {
            HandlerFailed(e);
            return;
        }
        // What the handler wrote while connecting (and in OnOpen), and a shutdown it asked for, happen in this batch.
        if (!_output.IsEmpty || _shutdownRequested || _closeRequested)
            QueueFlush();
        UpdateInterest();
    }

    // A name can resolve to several addresses ("localhost": ::1 and 127.0.0.1): the next is tried before giving up,
    // within the same connect timeout.
    private void FailConnect(Errno error)
    {
        Outgoing outgoing = _outgoing!;
        // Out of fds, the next address would fail the same way.
        if (outgoing.Candidates is { } candidates && outgoing.NextCandidate < candidates.Length && !error.IsFdExhaustion)
        {
            DropSocket();
            BeginConnect(new IPEndPoint(candidates[outgoing.NextCandidate++], outgoing.Port));
            return;
        }
        outgoing.Error = error;
        CloseNow(CloseReason.ConnectFailed);
    }

    private void DropSocket()
    {
        if (Fd < 0)
            return;
        _context.Loop.Unregister(_token, Fd);
        Sys.Close(Fd);
        Fd = -1;
        _outgoing!.Connecting = false;
        _outgoing.Resolving = true;   // between addresses: still in the connect queue
        _interest = Interest.None;
    }
}
