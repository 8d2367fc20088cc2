// Wakes a loop blocked in epoll_wait from another thread: work is queued, then the eventfd is written once.
using System.Collections.Concurrent;
using EpollServer.Interop;

namespace EpollServer.Reactor;

internal sealed class LoopWaker : IPollable, IDisposable
{
    private readonly ConcurrentQueue<Action> _work = new();
    private int _signalled;

    private LoopWaker(int fd) => Fd = fd;

    public int Fd { get; }

    public static SyscallResult Create(out LoopWaker? waker)
    {
        SyscallResult created = Sys.EventFd();
        waker = created.Ok ? new LoopWaker(created.Fd) : null;
        return created;
    }

    // Any thread. Only the first post after a wake-up writes the eventfd: a burst of posts costs one syscall.
    public void Post(Action work)
    {
        _work.Enqueue(work);
        if (Interlocked.Exchange(ref _signalled, 1) == 0)
            Signal();
    }

    private void Signal()
    {
        Span<byte> one = stackalloc byte[8];
        BitConverter.TryWriteBytes(one, 1UL);
        Sys.Write(Fd, one);   // EAGAIN means the counter is already non-zero: the loop will wake anyway.
    }

    // Loop thread. Reset the flag before draining, so a post racing with the drain either is seen by this drain or
    // signals again.
    public void OnPollEvent(PollEvents events)
    {
        Span<byte> counter = stackalloc byte[8];
        Sys.Read(Fd, counter);
        Volatile.Write(ref _signalled, 0);
        while (_work.TryDequeue(out Action? work))
            work();
    }

    public void Dispose() => Sys.Close(Fd);
}
