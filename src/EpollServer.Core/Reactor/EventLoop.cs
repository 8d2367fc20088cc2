// The reactor: one thread waits for readiness, dispatches each event to its target, runs due timers, then lets
// its owner flush (Redis's beforeSleep). Only this thread touches what is registered here.
using EpollServer.Interop;
using Microsoft.Extensions.Logging;

namespace EpollServer.Reactor;

internal sealed class EventLoop : IDisposable
{
    private readonly IPoller _poller;
    private readonly LoopWaker _waker;
    private readonly PollRegistry _registry = new();
    private readonly LoopTimers _timers = new();
    private readonly PollEvent[] _events;
    private readonly ILogger _logger;
    private readonly Action _runTimers;   // cached: a method group converted per iteration would allocate each time
    private bool _stopRequested;

    private EventLoop(IPoller poller, LoopWaker waker, int batchSize, ILogger logger)
    {
        _poller = poller;
        _waker = waker;
        _events = new PollEvent[batchSize];
        _logger = logger;
        _runTimers = _timers.RunExpired;
    }

    public int PollerFd => _poller.Fd;

    public int WakerFd => _waker.Fd;

    // The pipe's write end where the waker is a pipe (macOS); -1 where one eventfd does both.
    public int WakerWriteFd => _waker.WriteFd != _waker.Fd ? _waker.WriteFd : -1;

    public string PollerName => _poller.Name;

    // Runs once after every batch of events and timers, before the next wait: where output is flushed.
    public Action? BatchCompleted { get; set; }

    public long Iterations { get; private set; }

    // The longest the loop may sleep in one wait (-1: until the next timer). 0 makes it a busy poller: the load
    // generator's open model uses that so requests leave within microseconds of their intended send time.
    public int MaxWaitMs { get; set; } = -1;

    // Stopwatch ticks the loop keeps polling (zero-timeout waits) after the last wait that returned events; 0: off.
    public long BusyPollTicks { get; set; }

    // The monotonic clock (Stopwatch ticks) read once per wake-up: what activity stamps use, so that the hot path
    // costs no clock read per message.
    public long Now { get; private set; } = LoopTimers.Now;

    public static SyscallResult Create(IPoller poller, int batchSize, ILogger logger, out EventLoop? loop)
    {
        loop = null;
        SyscallResult made = LoopWaker.Create(out LoopWaker? waker);
        if (!made.Ok)
            return made;
        var created = new EventLoop(poller, waker!, batchSize, logger);
        SyscallResult added = created.Register(waker!, waker!.Fd, Interest.Read, out _);
        if (!added.Ok)
        {
            waker.Dispose();
            return added;
        }
        loop = created;
        return added;
    }

    public SyscallResult Register(IPollable target, int fd, Interest interest, out ulong token)
    {
        token = _registry.Add(target);
        SyscallResult added = _poller.Add(fd, token, interest);
        if (!added.Ok)
            _registry.Remove(token);
        return added;
    }

    public SyscallResult Modify(ulong token, int fd, Interest interest) => _poller.Modify(fd, token, interest);

    // EPOLL_CTL_DEL before the caller closes the fd: once closed, the kernel may hand the number to the next accept.
    public void Unregister(ulong token, int fd)
    {
        _poller.Remove(fd);
        _registry.Remove(token);
    }

    public LoopTimer Schedule(TimeSpan delay, Action callback) => _timers.Schedule(delay, callback);

    // Thread-safe: the only way another thread talks to this loop.
    public void Post(Action work) => _waker.Post(work);

    // Loop thread: the current iteration finishes, then Run returns.
    public void Stop() => _stopRequested = true;

    public void Run()
    {
        Span<PollEvent> events = _events;
        bool batchWasFull = false;
        long lastEvents = 0;
        while (!_stopRequested)
        {
            // A full batch means more fds may be ready: look again without sleeping (level-triggered keeps them).
            int timeout = batchWasFull ? 0 : _timers.MillisecondsUntilNext();
            if (MaxWaitMs >= 0 && (timeout < 0 || timeout > MaxWaitMs))
                timeout = MaxWaitMs;
            if (BusyPollTicks > 0 && Now - lastEvents < BusyPollTicks)
                timeout = 0;
            SyscallResult waited = _poller.Wait(events, timeout);
            if (!waited.Ok)
            {
                _logger.LogCritical("{Poller} wait failed: {Error}; the loop stops", _poller.Name, waited.Error);
                break;
            }
            int count = (int)waited.Value;
            Iterations++;
            Now = LoopTimers.Now;
            if (count > 0)
                lastEvents = Now;
            for (int i = 0; i < count; i++)
                Dispatch(events[i]);
            batchWasFull = count == events.Length;
            RunGuarded(_runTimers);
            RunGuarded(BatchCompleted);
        }
    }

    private void Dispatch(in PollEvent pollEvent)
    {
        IPollable? target = _registry.Find(pollEvent.Token);
        if (target is null)
        {
            // Its owner was closed earlier in this batch (see PollRegistry): drop the event.
            return;
        }
        try
        {
            target.OnPollEvent(pollEvent.Events);
        }
        catch (Exception e)
        {
            // A bug in one connection's code must not take the loop and every other connection down with it.
            _logger.LogError(e, "unhandled exception while dispatching {Events} to {Target}", pollEvent.Events, target);
        }
    }

    private void RunGuarded(Action? action)
    {
        try
        {
            action?.Invoke();
        }
        catch (Exception e)
        {
            _logger.LogError(e, "unhandled exception on the loop thread");
        }
    }

    public void Dispose()
    {
        _waker.Dispose();
        _poller.Dispose();
    }
}
