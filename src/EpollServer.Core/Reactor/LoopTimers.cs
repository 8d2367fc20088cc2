// One-shot timers on the loop thread: a min-heap by deadline on the loop's monotonic clock (its TimeProvider's
// timestamps: Stopwatch ticks in production, a clock the test advances in tests).
namespace EpollServer.Reactor;

internal sealed class LoopTimer
{
    internal LoopTimer(long deadline, Action callback)
    {
        Deadline = deadline;
        Callback = callback;
    }

    internal long Deadline { get; }

    internal Action Callback { get; }

    public bool Cancelled { get; private set; }

    // Cancelling only marks the timer: the heap drops it when it comes to the top, which keeps cancel O(1).
    public void Cancel() => Cancelled = true;
}

internal sealed class LoopTimers(TimeProvider clock)
{
    private readonly PriorityQueue<LoopTimer, long> _heap = new();
    private readonly long _frequency = clock.TimestampFrequency;

    public int Count => _heap.Count;

    public long Now => clock.GetTimestamp();

    // A duration in this clock's ticks.
    public long Ticks(TimeSpan duration) => (long)(duration.TotalSeconds * _frequency);

    public LoopTimer Schedule(TimeSpan delay, Action callback) => ScheduleAt(Now + Ticks(delay), callback);

    // deadline: a timestamp of this clock.
    public LoopTimer ScheduleAt(long deadline, Action callback)
    {
        var timer = new LoopTimer(deadline, callback);
        _heap.Enqueue(timer, deadline);
        return timer;
    }

    // The epoll_wait timeout: -1 with no timers, else milliseconds to the nearest deadline, rounded up so the loop
    // never wakes a little early and spins once more with a zero timeout.
    public int MillisecondsUntilNext()
    {
        while (_heap.TryPeek(out LoopTimer? top, out _) && top.Cancelled)
            _heap.Dequeue();
        if (!_heap.TryPeek(out LoopTimer? next, out long deadline))
            return -1;
        long remaining = deadline - Now;
        if (remaining <= 0)
            return 0;
        return (int)Math.Min(int.MaxValue, (remaining * 1000 + _frequency - 1) / _frequency);
    }

    public void RunExpired()
    {
        long now = Now;
        while (_heap.TryPeek(out LoopTimer? top, out long deadline) && deadline <= now)
        {
            _heap.Dequeue();
            if (!top.Cancelled)
                top.Callback();
        }
    }
}
