// One accepted TCP connection: its fd, its two rings, its epoll interest and where it is in its life.
// Only the loop thread touches a Connection; handlers get it as the argument of every callback.
using System.Net;
using EpollServer.Buffers;
using EpollServer.Reactor;
using EpollServer.Interop;

namespace EpollServer.Net;

public enum CloseReason
{
    PeerClosed,        // the peer finished sending and everything owed was delivered
    Closed,            // the handler or the server asked for it and the peer's FIN (or the linger timeout) followed
    Aborted,           // the handler called Abort
    Reset,             // ECONNRESET / EPIPE: the peer went away mid-conversation
    Error,             // another socket error
    HandlerError,      // the handler threw or broke its contract; logged
    DrainDeadline,     // the server stopped and this connection was not done by the drain deadline
    IdleTimeout,       // no byte either way for --idle-timeout
    FirstByteTimeout,  // the client never spoke (--first-byte-timeout)
    RequestTimeout,    // a request stayed incomplete for --request-timeout (slowloris)
    SlowConsumer,      // the handler gave up on a peer that did not read what it was owed (its output was full)
}

public sealed partial class Connection : IPollable
{
    private readonly Server _server;
    private readonly RingBuffer _input = new();
    private readonly RingBuffer _output = new();
    private readonly PeerAddress _peer;
    private ulong _token;
    private Interest _interest;
    private bool _readPaused;      // backpressure: output above the high watermark
    private bool _writeArmed;      // the last send left a remainder, so EPOLLOUT is wanted
    private bool _inputEnded;      // the peer's FIN was read
    private bool _closeRequested;  // Close(): flush, then shut down our side
    private bool _draining;        // the server is stopping: serve what was read, then Close (Connection.Read.cs)
    private bool _lingering;       // our FIN is sent; reading and discarding until the peer's FIN
    private bool _queuedForFlush;
    private LoopTimer? _lingerTimer;
    private Errno? _sendError;     // met by EnsureOutputSpace, where closing at once is not allowed
    private DeadlineLink<Connection>? _idle;      // in the server's idle queue (when --idle-timeout is on)
    private DeadlineLink<Connection>? _waiting;   // in the first-byte, then the request queue: see Connection.Timeouts.cs

    internal Connection(Server server, int fd, long id, PeerAddress peer)
    {
        _server = server;
        Fd = fd;
        Id = id;
        _peer = peer;
    }

    public long Id { get; }

    public IPEndPoint RemoteEndPoint => _peer.ToEndPoint();

    // Per-connection state for the handler's own use (a nickname, a parser); the server never reads it.
    public object? State { get; set; }

    public bool IsClosed { get; private set; }

    // Closed, or closing after a flush: Write takes nothing more, so a broadcast should pass this one by.
    public bool IsClosing => IsClosed || _closeRequested;

    // Why the connection closed; set before OnClose is called, so the handler can tell its other peers.
    public CloseReason? ClosedBecause { get; private set; }

    // How many bytes Write can take right now.
    public int OutputSpace => IsClosed || _closeRequested ? 0 : _output.HasStorage ? _output.Free : _server.Options.OutputBufferSize;

    public int PendingOutput => _output.Count;

    // Bytes read from the peer that the handler has not consumed yet.
    public int PendingInput => _input.Count;

    internal int Fd { get; }

    internal (UInt128, bool) Host => _peer.Host;

    internal int TableIndex { get; set; } = -1;

    internal void Register(ulong token)
    {
        _token = token;
        _interest = Interest.Read;
    }

    // Flushes what is owed, then closes: our FIN after the last byte, and the peer's FIN awaited (briefly) so that
    // unread input cannot turn the close into a reset that destroys those last bytes in flight.
    public void Close()
    {
        if (IsClosed || _closeRequested)
            return;
        _closeRequested = true;
        QueueFlush();
        UpdateInterest();
    }

    public void Abort() => CloseNow(CloseReason.Aborted);

    // For a peer whose output is full when the handler has more for it (a chat reader that stopped reading):
    // closed at once, what it was owed is dropped, and the server counts it. A peer whose early send failed
    // (EnsureOutputSpace) went away rather than fell behind, and is closed for that reason instead.
    public void DisconnectSlowConsumer() => CloseNow(_sendError is { } error ? ReasonFor(error) : CloseReason.SlowConsumer);

    // A protocol error by the peer (the handler has answered it where the protocol has a way to): counted, and
    // logged with the peer's address at a bounded rate, so a hostile peer cannot flood the log.
    public void ReportPeerError(string reason)
    {
        _server.Counters.PeerErrors++;
        _server.PeerErrorLog.Report(_server.Loop.Now, _peer, reason);
    }

    public override string ToString() => $"connection {Id} fd {Fd} from {_peer}";

    void IPollable.OnPollEvent(PollEvents events)
    {
        // On an error or hang-up (reported as readable and writable too) the send or recv returns the socket's errno
        // or EOF, which closes the connection.
        if ((events & PollEvents.Writable) != 0 && (!_output.IsEmpty || _writeArmed))
            Flush();
        if (!IsClosed && (events & PollEvents.Readable) != 0 && WantsRead)
            Receive();
        // Level-triggered, Ended repeats until the fd is gone: a connection that made neither call closes.
        if (!IsClosed && (events & PollEvents.Ended) != 0 && !WantsRead && _output.IsEmpty)
            CloseNow(CloseReason.Error);
    }

    // While draining, only the rest of a request already begun is read: new ones are not taken.
    // A bug in this class (handler exceptions are caught where the handler is called): closed and counted.
    void IPollable.OnDispatchFailed(Exception error)
    {
        _server.Counters.HandlerErrors++;
        CloseNow(CloseReason.HandlerError);
    }

    private bool WantsRead => !_inputEnded && (_lingering || (!_readPaused && !_closeRequested && (!_draining || !_input.IsEmpty)));

    private void UpdateInterest()
    {
        if (IsClosed)
            return;
        Interest desired = (WantsRead ? Interest.Read : Interest.None) | (_writeArmed ? Interest.Write : Interest.None);
        if (desired == _interest)
            return;
        SyscallResult changed = _server.Loop.Modify(_token, Fd, desired);
        if (!changed.Ok)
        {
            _server.LogSocketError(this, "epoll_ctl(MOD)", changed.Error);
            CloseNow(CloseReason.Error);
            return;
        }
        _interest = desired;
    }

    internal void CloseNow(CloseReason reason)
    {
        if (IsClosed)
            return;
        IsClosed = true;
        ClosedBecause = reason;
        _lingerTimer?.Cancel();
        LeaveTimeoutQueues();
        _server.Loop.Unregister(_token, Fd);
        Sys.Close(Fd);
        ReleaseInput();
        ReleaseOutput();
        _server.OnConnectionClosed(this, reason);
    }

    private void ReleaseInput()
    {
        if (_input.HasStorage)
            _server.InputPool.Return(_input.Detach()!);
    }

    private void ReleaseOutput()
    {
        if (_output.HasStorage)
            _server.OutputPool.Return(_output.Detach()!);
    }

    private static CloseReason ReasonFor(Errno error) =>
        error == Errno.ECONNRESET || error == Errno.EPIPE ? CloseReason.Reset : CloseReason.Error;
}
