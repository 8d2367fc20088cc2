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
    private readonly LoopTimers _timers;
    private readonly PollEvent[] _events;
    private readonly ILogger _logger;
    private readonly Action _runTimers;   // cached: a method group converted per iteration would allocate each time
    private readonly List<Action> _batchHooks = [];
    private readonly Queue<IDeferred> _deferred = new();
    private bool _stopRequested;
    private long _busyPollTicks;

    private EventLoop(IPoller poller, LoopWaker waker, int batchSize, ILogger logger, TimeProvider clock)
    {
        _poller = poller;
        _waker = waker;
        _timers = new LoopTimers(clock);
        Now = _timers.Now;
        _events = new PollEvent[batchSize];
        _logger = logger;
        _runTimers = _timers.RunExpired;
    }

    public int PollerFd => _poller.Fd;

    public int WakerFd => _waker.Fd;

    // The pipe's write end where the waker is a pipe (macOS); -1 where one eventfd does both.
    public int WakerWriteFd => _waker.WriteFd != _waker.Fd ? _waker.WriteFd : -1;

    public string PollerName => _poller.Name;

    // Runs once after every batch of events and timers, before the next wait, in the order added: where output is
    // flushed (Redis's beforeSleep), and where the load generator paces its requests.
    // first: ahead of the hooks already added (the load generator writes before its context flushes).
    public void AddBatchHook(Action hook, bool first = false) => _batchHooks.Insert(first ? 0 : _batchHooks.Count, hook);

    // Runs `work` once the current event, timer pass or batch hook has returned: never inside it.
    public void Defer(IDeferred work) => _deferred.Enqueue(work);

    public long Iterations { get; private set; }

    // Targets whose event handling threw, and were removed and closed for it.
    public long DispatchFailures { get; private set; }

    // How long the loop keeps polling (zero-timeout waits) after the last wait that returned events; zero: off.
    // Timeout.InfiniteTimeSpan: it never sleeps (the load generator's open model, whose pacer must run every few
    // microseconds whether or not anything happened).
    public TimeSpan BusyPoll
    {
        get => _busyPollTicks == long.MaxValue ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(_busyPollTicks / (double)_timers.Ticks(TimeSpan.FromSeconds(1)));
        set => _busyPollTicks = value == Timeout.InfiniteTimeSpan ? long.MaxValue : _timers.Ticks(value);
    }

    // The monotonic clock (the TimeProvider's timestamps) read once per wake-up: what activity stamps use, so that
    // the hot path costs no clock read per message.
    public long Now { get; private set; }

    // A duration in ticks of Now's clock.
    public long Ticks(TimeSpan duration) => _timers.Ticks(duration);

    // clock: TimeProvider.System (Stopwatch ticks) unless a test injects one it advances by hand.
    public static SyscallResult Create(IPoller poller, int batchSize, ILogger logger, out EventLoop? loop, TimeProvider? clock = null)
    {
        loop = null;
        SyscallResult made = LoopWaker.Create(out LoopWaker? waker);
        if (!made.Ok)
            return made;
        var created = new EventLoop(poller, waker!, batchSize, logger, clock ?? TimeProvider.System);
        waker!.OnWorkFailed = e => logger.LogError(e, "work posted to the loop failed");
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
        token = _registry.Add(target, fd);
        SyscallResult added = _poller.Add(fd, token, interest);
        if (!added.Ok)
            _registry.Remove(token);
        return added;
    }

    public SyscallResult Modify(ulong token, int fd, Interest interest) => _poller.Modify(fd, token, interest);

    // Takes a registered fd off the poller while it wants nothing, keeping its token (Resume puts it back): a fd that
    // is not watched cannot report the hang-up that epoll and poll deliver whatever the mask.
    public SyscallResult Suspend(int fd) => _poller.Remove(fd);

    public SyscallResult Resume(ulong token, int fd, Interest interest) => _poller.Add(fd, token, interest);

    // EPOLL_CTL_DEL before the caller closes the fd: once closed, the kernel may hand the number to the next accept.
    public void Unregister(ulong token, int fd)
    {
        _poller.Remove(fd);
        _registry.Remove(token);
    }

    public LoopTimer Schedule(TimeSpan delay, Action callback) => _timers.Schedule(delay, callback);

    // deadline: a timestamp of the loop's clock (Now, ReadClock).
    public LoopTimer ScheduleAt(long deadline, Action callback) => _timers.ScheduleAt(deadline, callback);

    // The clock read now, for the rare caller that cannot use the stamp of the current wake-up (Now).
    public long ReadClock() => _timers.Now;

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
            if (_busyPollTicks > 0 && Now - lastEvents < _busyPollTicks)
                timeout = 0;
            SyscallResult waited = _poller.Wait(events, timeout);
            if (!waited.Ok)
            {
                _logger.LogCritical("{Poller} wait failed: {Error}; the loop stops", _poller.Name, waited.Error);
                break;
            }
            int count = (int)waited.Value;
            Iterations++;
            Now = _timers.Now;
            if (count > 0)
                lastEvents = Now;
            for (int i = 0; i < count; i++)
            {
                Dispatch(events[i]);
                RunDeferred();
            }
            batchWasFull = count == events.Length;
            RunGuarded(_runTimers);
            RunDeferred();
            for (int i = 0; i < _batchHooks.Count; i++)
                RunGuarded(_batchHooks[i]);
            RunDeferred();
        }
    }

    // What was deferred, including what that defers in turn, each guarded like any callback.
    internal void RunDeferred()
    {
        while (_deferred.TryDequeue(out IDeferred? work))
        {
            try
            {
                work.RunDeferred();
            }
            catch (Exception e)
            {
                _logger.LogError(e, "deferred work on the loop failed");
            }
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
            RemoveFailed(target, pollEvent, e);
        }
    }

    // A bug in one target's code must not take the loop and every other connection down with it, nor, left
    // registered, fire again on every wait and flood the log: it is removed, counted, logged once, closed. (A method
    // of its own: a lambda capturing the target in Dispatch would allocate a closure on every event.)
    private void RemoveFailed(IPollable target, PollEvent pollEvent, Exception error)
    {
        DispatchFailures++;
        _logger.LogError(error, "{Target} failed while handling {Events}; it is closed", target, pollEvent.Events);
        if (ReferenceEquals(_registry.Find(pollEvent.Token), target))   // unless it got as far as closing itself
            Unregister(pollEvent.Token, _registry.FdOf(pollEvent.Token));
        try
        {
            target.OnDispatchFailed(error);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "closing {Target} after its failure failed too", target);
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
