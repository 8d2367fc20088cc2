// What a connection knows of the loop that owns it, and nothing more: the loop, the buffer pools and watermarks, a
// counter sink, the timeout queues, the flush queue and where closes are reported. libuv's uv_stream_t knows its
// uv_loop_t the same way, not the server around it. One context per loop: a Server builds one for its loop, the load
// generator one per generator thread, and every connection on that loop (accepted or connected) belongs to it.
using EpollServer.Buffers;
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Reactor;
using Microsoft.Extensions.Logging;

namespace EpollServer.Net;

public sealed partial class LoopContext : IDisposable
{
    private readonly List<Connection> _flushQueue = [];
    private readonly Action _flush;

    private LoopContext(EventLoop loop, ServerOptions options, ILogger logger, TimeProvider clock)
    {
        Loop = loop;
        Options = options;
        Logger = logger;
        InputPool = new BufferPool(options.InputBufferSize, options.MaxPooledBuffers);
        OutputPool = new BufferPool(options.OutputBufferSize, options.MaxPooledBuffers);
        // Reading stops at 3/4 of the output ring and resumes at 1/4: far enough apart that a connection does not
        // flap between paused and reading on every send.
        HighWatermark = options.OutputBufferSize / 4 * 3;
        LowWatermark = options.OutputBufferSize / 4;
        DiscardBuffer = new byte[options.InputBufferSize];
        PeerErrorLog = new PeerErrorLog(logger, options.PeerErrorLogBurst, options.PeerErrorLogWindow, clock);
        IdleQueue = TimeoutQueue(options.IdleTimeout, CloseReason.IdleTimeout);
        FirstByteQueue = TimeoutQueue(options.FirstByteTimeout, CloseReason.FirstByteTimeout);
        RequestQueue = options.RequestTimeout > TimeSpan.Zero
            ? new DeadlineQueue<Connection>(Loop, options.RequestTimeout, connection => connection.OnRequestTimedOut()) : null;
        ConnectQueue = TimeoutQueue(options.ConnectTimeout, CloseReason.ConnectTimeout);
        _flush = FlushQueued;
        loop.AddBatchHook(_flush);
    }

    // Builds the poller the options name, the loop on it and the context around them: the one place a loop is made.
    internal static LoopContext Create(ServerOptions options, ILogger logger, TimeProvider clock)
    {
        IPoller poller = CreatePoller(options);
        SyscallResult created = EventLoop.Create(poller, options.EventBatchSize, logger, out EventLoop? loop, clock);
        if (!created.Ok)
        {
            poller.Dispose();
            throw new ServerStartException($"the loop's waker could not be made: {created.Error}");
        }
        loop!.BusyPoll = options.BusyPoll;
        return new LoopContext(loop, options, logger, clock);
    }

    private static IPoller CreatePoller(ServerOptions options)
    {
        switch (options.ResolvedPoller)
        {
            case "poll":
                return new PollPoller();
            case "kqueue":
                SyscallResult queue = KqueuePoller.Create(options.EventBatchSize, out KqueuePoller? kqueue, out string? unavailable);
                return queue.Ok ? kqueue! : throw new ServerStartException(unavailable ?? $"kqueue failed: {queue.Error}");
            default:
                SyscallResult created = EpollPoller.Create(options.EventBatchSize, out EpollPoller? epoll);
                return created.Ok ? epoll! : throw new ServerStartException($"epoll_create1 failed: {created.Error}");
        }
    }

    internal EventLoop Loop { get; }

    internal ServerOptions Options { get; }

    internal ILogger Logger { get; }

    // The counter sink: what every connection on this loop counts into.
    public ServerCounters Counters { get; } = new();

    // Every open connection on this loop, accepted or connected.
    internal ConnectionTable Connections { get; } = new();

    internal BufferPool InputPool { get; }

    internal BufferPool OutputPool { get; }

    internal int HighWatermark { get; }

    internal int LowWatermark { get; }

    internal byte[] DiscardBuffer { get; }

    internal PeerErrorLog PeerErrorLog { get; }

    // The timeouts' queues (Connection.Timeouts.cs); null when that timeout is off.
    internal DeadlineQueue<Connection>? IdleQueue { get; }

    internal DeadlineQueue<Connection>? FirstByteQueue { get; }

    internal DeadlineQueue<Connection>? RequestQueue { get; }

    internal DeadlineQueue<Connection>? ConnectQueue { get; }

    // The owner's bookkeeping when a connection closes, before its fd is closed and before the handler hears of it;
    // no protocol code may run in either. Releasing comes first, while the connection is still in the table: the
    // server gives back its slot and per-address count there, so whoever sees the open count drop can connect
    // again at once. Closed comes after it has left the table (the server's drain check).
    internal Action<Connection>? Releasing { get; set; }

    internal Action<Connection>? Closed { get; set; }

    private long _nextConnectionId;

    internal long NextConnectionId() => ++_nextConnectionId;

    private DeadlineQueue<Connection>? TimeoutQueue(TimeSpan length, CloseReason reason) =>
        length > TimeSpan.Zero ? new DeadlineQueue<Connection>(Loop, length, connection => connection.CloseNow(reason)) : null;

    internal void QueueFlush(Connection connection) => _flushQueue.Add(connection);

    // After every batch: one send per connection that has output, however many writes its handler made.
    private void FlushQueued()
    {
        // By index: a flush may run a handler, which may queue more connections behind this one.
        for (int i = 0; i < _flushQueue.Count; i++)
            _flushQueue[i].Flush();
        _flushQueue.Clear();
    }

    // A connection is gone: counted and untracked now, its handler told once the current callback has returned.
    internal void OnClosed(Connection connection, CloseReason reason)
    {
        Releasing?.Invoke(connection);
        Connections.Remove(connection);
        Counters[Counter.ConnectionsClosed]++;
        Counters.CountClose(reason);
        Closed?.Invoke(connection);
        Loop.Defer(connection);
    }

    // Closes every connection now (a stopped loop's last act), and lets each handler hear of it.
    internal void CloseAll(CloseReason reason = CloseReason.Closed)
    {
        foreach (Connection connection in Connections.Snapshot())
            connection.CloseNow(reason);
        Loop.RunDeferred();
    }

    internal void LogHandlerError(Connection connection, Exception error)
    {
        Counters[Counter.HandlerErrors]++;
        Logger.LogError(error, "{Handler} handler failed on {Connection}; closing it", connection.Handler.Name, connection);
    }

    internal void LogStall(Connection connection)
    {
        Counters[Counter.HandlerErrors]++;
        Logger.LogError("{Connection}: the input buffer ({Size} bytes) is full and the {Handler} handler consumed none of it; closing",
            connection, Options.InputBufferSize, connection.Handler.Name);
    }

    internal void LogSocketError(Connection connection, string call, Errno error) =>
        Logger.LogError("{Connection}: {Call} failed: {Error}", connection, call, error);

    public void Dispose() => Loop.Dispose();
}
