// Timeouts that all have the same length (the idle timeout, say) need no heap: a deadline set "now" is never earlier
// than one set before it, so an intrusive FIFO list keeps them in order (libevent's "common timeouts"). Touching
// a member moves it to the tail in O(1) with no allocation; one loop timer watches the head.
namespace EpollServer.Reactor;

internal sealed class DeadlineQueue<T>
    where T : class
{
    // Deadlines are rounded up to a tenth of a second, so that members expiring microseconds apart are closed by one
    // wake-up.
    private readonly long _granularity;

    private readonly EventLoop _loop;
    private readonly long _length;
    private readonly Action<T> _onExpired;
    private readonly Action _onTimer;
    private DeadlineLink<T>? _head;
    private DeadlineLink<T>? _tail;
    private LoopTimer? _timer;

    public DeadlineQueue(EventLoop loop, TimeSpan length, Action<T> onExpired)
    {
        _loop = loop;
        _length = loop.Ticks(length);
        _granularity = loop.Ticks(TimeSpan.FromSeconds(0.1));
        _onExpired = onExpired;
        _onTimer = Expire;
    }

    // Starts (or restarts) the member's time: now it has the full length again.
    public void Touch(DeadlineLink<T> link)
    {
        if (link.Queued)
            Unlink(link);
        link.Since = _loop.Now;
        link.Previous = _tail;
        link.Next = null;
        if (_tail is null)
            _head = link;
        else
            _tail.Next = link;
        _tail = link;
        link.Queued = true;
        ArmTimer();
    }

    public void Remove(DeadlineLink<T> link)
    {
        if (link.Queued)
            Unlink(link);
    }

    private void Unlink(DeadlineLink<T> link)
    {
        if (link.Previous is null)
            _head = link.Next;
        else
            link.Previous.Next = link.Next;
        if (link.Next is null)
            _tail = link.Previous;
        else
            link.Next.Previous = link.Previous;
        link.Previous = link.Next = null;
        link.Queued = false;
    }

    // One timer for the head's deadline. The head's deadline never moves earlier (a new or touched member goes to
    // the tail with the latest start), so an armed timer is never late: at worst it fires early, Expire finds
    // nothing due and arms for the new head. No timer is cancelled or rescheduled per touch.
    private void ArmTimer()
    {
        if (_head is null || _timer is not null)
            return;
        long due = _head.Since + _length;
        long deadline = (due + _granularity - 1) / _granularity * _granularity;
        _timer = _loop.ScheduleAt(deadline, _onTimer);
    }

    private void Expire()
    {
        _timer = null;
        long now = _loop.ReadClock();
        // Expiring a member closes it, which removes it (and may remove others): always take the current head.
        while (_head is not null && _head.Since + _length <= now)
        {
            DeadlineLink<T> expired = _head;
            Unlink(expired);
            _onExpired(expired.Owner);
        }
        ArmTimer();
    }
}

// A member's place in one DeadlineQueue: allocated once per member, with the member.
internal sealed class DeadlineLink<T>(T owner)
    where T : class
{
    public T Owner { get; } = owner;

    internal DeadlineLink<T>? Previous { get; set; }

    internal DeadlineLink<T>? Next { get; set; }

    internal long Since { get; set; }

    internal bool Queued { get; set; }
}
