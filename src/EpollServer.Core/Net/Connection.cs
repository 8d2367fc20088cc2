// One connected TCP socket as a stream on its loop: its fd, its two rings, its poller interest, its handler and where
// it is in its life. Accepted by a server or connected by a handler (Connection.Connect.cs), it is the same stream.
// It knows its loop's context (LoopContext), not the server. Only the loop thread touches a Connection.
using System.Net;
using EpollServer.Buffers;
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Protocols;
using EpollServer.Reactor;

namespace EpollServer.Net;

public enum CloseReason
{
    PeerClosed,        // the peer finished sending and everything owed was delivered
    Closed,            // the handler or the server asked for it and the peer's FIN (or the linger timeout) followed
    Aborted,           // the handler called Abort(reason): closed at once, owed output dropped, the peer reset
    Reset,             // ECONNRESET / EPIPE: the peer went away mid-conversation
    Error,             // another socket error
    HandlerError,      // the handler threw or broke its contract; logged
    DrainDeadline,     // the server stopped and this connection was not done by the drain deadline
    IdleTimeout,       // no byte either way for --idle-timeout
    FirstByteTimeout,  // the client never spoke (--first-byte-timeout)
    RequestTimeout,    // a request stayed incomplete for --request-timeout (slowloris)
    ConnectFailed,     // an outgoing connection was refused, unreachable, or its host name did not resolve
    ConnectTimeout,    // an outgoing connection was not established within --connect-timeout
}

public sealed partial class Connection : IPollable, IDeferred
{
    private readonly LoopContext _context;
    private RingBuffer _input;    // mutable structs: never readonly, never copied
    private RingBuffer _output;
    private PeerAddress _peer;
    private ulong _token;
    private Interest _interest;
    private bool _readPaused;      // backpressure: output above the high watermark
    private bool _readStopped;     // the handler stopped reading (PauseReading): its input waits on something else
    private bool _offerInput;      // ResumeReading: offer the buffered input at the next flush, whatever the output holds
    private bool _writeArmed;      // the last send left a remainder, so EPOLLOUT is wanted
    private bool _wantsWritable;   // NotifyWhenWritable: tell the handler once the output has room again
    private bool _inputEnded;      // the peer's FIN was read
    private bool _closeRequested;  // Close(): flush, then shut down our side
    private bool _shutdownRequested;  // ShutdownOutput(): flush, then shut down our side, and keep reading
    private bool _outputShut;      // our FIN is sent
    private bool _draining;        // the server is stopping: serve what was read, then Close (Connection.Read.cs)
    private bool _lingering;       // our FIN is sent after Close(); reading and discarding until the peer's FIN
    private bool _queuedForFlush;
    private LoopTimer? _lingerTimer;
    private Errno? _sendError;     // met by EnsureOutputSpace, where closing at once is not allowed
    private DeadlineLink<Connection>? _idle;      // in the idle queue (when --idle-timeout is on)
    private DeadlineLink<Connection>? _waiting;   // in the first-byte, then the request queue: see Connection.Timeouts.cs

    internal Connection(LoopContext context, int fd, PeerAddress peer, IProtocolHandler handler, bool accepted)
    {
        _context = context;
        Fd = fd;
        Id = context.NextConnectionId();
        _peer = peer;
        Handler = handler;
        IsAccepted = accepted;
    }

    public long Id { get; }

    // Who handles this stream's events: the server's protocol for an accepted one, whoever connected it otherwise.
    public IProtocolHandler Handler { get; }

    // The loop this connection lives on: where a handler opens further connections (LoopContext.Connect).
    public LoopContext Context => _context;

    // Accepted by a listener (true), or connected by a handler (false).
    public bool IsAccepted { get; }

    public IPEndPoint RemoteEndPoint => _peer.ToEndPoint();

    // Per-connection state for the handler's own use (a nickname, a parser); the server never reads it.
    public object? State { get; set; }

    public bool IsClosed { get; private set; }

    // Closed, or closing after a flush: Write takes nothing more, so a broadcast should pass this one by.
    public bool IsClosing => IsClosed || _closeRequested;

    // Why the connection closed; set before OnClose is called, so the handler can tell its other peers.
    public CloseReason? ClosedBecause { get; private set; }

    // The reason given to Abort, when that is how it closed.
    public string? AbortReason { get; private set; }

    // How many bytes Write can take right now.
    public int OutputSpace => IsClosing || _shutdownRequested ? 0 : _output.HasStorage ? _output.Free : _context.Options.OutputBufferSize;

    public int PendingOutput => _output.Count;

    // Bytes read from the peer that the handler has not consumed yet.
    public int PendingInput => _input.Count;

    internal int Fd { get; private set; }

    internal (UInt128, bool) Host => _peer.Host;

    internal int TableIndex { get; set; } = -1;

    // Registers the fd (already connected or accepted) for reading and starts the timeouts.
    internal SyscallResult Register()
    {
        SyscallResult registered = _context.Loop.Register(this, Fd, Interest.Read, out _token);
        if (registered.Ok)
            _interest = Interest.Read;
        return registered;
    }

    // Flushes what is owed, then closes: our FIN after the last byte, and the peer's FIN awaited (briefly) so that
    // unread input cannot turn the close into a reset that destroys those last bytes in flight.
    public void Close()
    {
        if (IsClosed || _closeRequested)
            return;
        if (Establishing && _output.IsEmpty)
        {
            CloseNow(CloseReason.Closed);   // nothing to deliver: no need to finish connecting first
            return;
        }
        _closeRequested = true;
        QueueFlush();
        UpdateInterest();
    }

    // Closed at once with a reset (SO_LINGER 0): what it was owed is dropped, and the peer learns the conversation
    // was cut, not finished. `reason` is counted (aborted by reason on the stats line) and kept as AbortReason. A
    // peer whose early send already failed (EnsureOutputSpace) went away rather than was cut off, and is closed for
    // that reason instead.
    public void Abort(string reason)
    {
        if (IsClosed)
            return;
        if (_sendError is { } error)
        {
            CloseNow(ReasonFor(error));
            return;
        }
        AbortReason = reason;
        _context.Counters.CountAbort(reason);
        if (Fd >= 0)
            Sys.SetLingerZero(Fd);
        CloseNow(CloseReason.Aborted);
    }

    // A protocol error by the peer (the handler has answered it where the protocol has a way to): counted, and
    // logged with the peer's address at a bounded rate, so a hostile peer cannot flood the log.
    public void ReportPeerError(string reason)
    {
        _context.Counters[Counter.PeerErrors]++;
        _context.PeerErrorLog.Report(_context.Loop.Now, _peer, reason);
    }

    public override string ToString() => $"connection {Id} fd {Fd} {(IsAccepted ? "from" : "to")} {_outgoing?.RemoteName ?? _peer.ToString()}";

    void IPollable.OnPollEvent(PollEvents events)
    {
        if (IsConnecting)
        {
            FinishConnect();
            return;
        }
        // On an error or hang-up (reported as readable and writable too) the send or recv returns the socket's errno
        // or EOF, which closes the connection.
        bool acted = false;
        if ((events & PollEvents.Writable) != 0 && (!_output.IsEmpty || _writeArmed))
        {
            Flush();
            acted = true;
        }
        if (!IsClosed && (events & PollEvents.Readable) != 0 && WantsRead)
        {
            Receive();
            acted = true;
        }
        // Level-triggered, Ended repeats until the fd is gone: one that found nothing to do closes. (A connection
        // that wants nothing is off the poller, so this is a backend's failed change, or a bug, not a pause.)
        if (!IsClosed && !acted && (events & PollEvents.Ended) != 0)
            CloseNow(CloseReason.Error);
    }

    // A bug in this class (handler exceptions are caught where the handler is called): closed and counted.
    void IPollable.OnDispatchFailed(Exception error)
    {
        _context.Counters[Counter.HandlerErrors]++;
        CloseNow(CloseReason.HandlerError);
    }

    // While draining, only the rest of a request already begun is read: new ones are not taken.
    private bool WantsRead => !_inputEnded && !Establishing && (_lingering ||
        (!_readPaused && !_readStopped && !_closeRequested && (!_draining || !_input.IsEmpty)));

    private void UpdateInterest()
    {
        if (IsClosed || Establishing || Fd < 0)
            return;
        Interest desired = (WantsRead ? Interest.Read : Interest.None) | (_writeArmed ? Interest.Write : Interest.None);
        if (desired == _interest)
            return;
        // Wanting nothing takes the fd off the poller, and wanting something again puts it back (libuv's
        // uv__io_stop): epoll and poll report a hang-up whatever the mask, and a connection that is only paused
        // (backpressure, or its handler waiting on another connection) would otherwise either spin on it or be
        // closed with its unread input. What happened meanwhile is found by the recv or send that follows.
        SyscallResult changed = desired == Interest.None ? _context.Loop.Suspend(Fd)
            : _interest == Interest.None ? _context.Loop.Resume(_token, Fd, desired)
            : _context.Loop.Modify(_token, Fd, desired);
        if (!changed.Ok)
        {
            _context.LogSocketError(this, "epoll_ctl", changed.Error);
            CloseNow(CloseReason.Error);
            return;
        }
        _interest = desired;
    }

    // Closes the fd now; the handler's OnClose follows once the current callback has returned (RunDeferred), so a
    // close never runs protocol code inside another connection's callback.
    internal void CloseNow(CloseReason reason)
    {
        if (IsClosed)
            return;
        IsClosed = true;
        // A close the server decided on (a request timeout it answered, counted then) keeps its reason for OnClose.
        ClosedBecause = reason is CloseReason.Closed or CloseReason.PeerClosed && _closeAs != CloseReason.Closed ? _closeAs : reason;
        if (reason == CloseReason.ConnectTimeout)
            _outgoing!.Error = Errno.ETIMEDOUT;
        _lingerTimer?.Cancel();
        LeaveTimeoutQueues();
        // Counted before the fd closes: whoever sees the EOF may read the counters next.
        _context.OnClosed(this, reason);
        if (Fd >= 0)
        {
            _context.Loop.Unregister(_token, Fd);
            Sys.Close(Fd);
        }
        ReleaseInput();
        ReleaseOutput();
    }

    void IDeferred.RunDeferred()
    {
        try
        {
            Handler.OnClose(this);
        }
        catch (Exception e)
        {
            _context.LogHandlerError(this, e);
        }
    }

    // The handler threw: logged and counted once, and this connection (only) is closed.
    private void HandlerFailed(Exception error)
    {
        _context.LogHandlerError(this, error);
        CloseNow(CloseReason.HandlerError);
    }

    private void ReleaseInput()
    {
        if (_input.HasStorage)
            _context.InputPool.Return(_input.Detach()!);
    }

    private void ReleaseOutput()
    {
        if (_output.HasStorage)
            _context.OutputPool.Return(_output.Detach()!);
    }

    private static CloseReason ReasonFor(Errno error) =>
        error == Errno.ECONNRESET || error == Errno.EPIPE ? CloseReason.Reset : CloseReason.Error;
}
