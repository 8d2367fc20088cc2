// Wakes a loop blocked in its wait from another thread: work is queued, then the waker is written once. On Linux
// the waker is an eventfd (one fd, a counter); where there is none (macOS) a pipe, as libuv and Redis do there.
using System.Collections.Concurrent;
using EpollServer.Interop;

namespace EpollServer.Reactor;

internal sealed class LoopWaker : IPollable, IDisposable
{
    private readonly ConcurrentQueue<Action> _work = new();
    private int _signalled;
    private volatile bool _disposed;

    private LoopWaker(int fd, int writeFd)
    {
        Fd = fd;
        WriteFd = writeFd;
    }

    // Where a posted work item's exception goes: the item is lost, the waker and the items behind it are not.
    public Action<Exception>? OnWorkFailed { get; set; }

    // What the poller watches (the eventfd, or the pipe's read end).
    public int Fd { get; }

    // Where Post writes: the eventfd itself, or the pipe's write end.
    public int WriteFd { get; }

    // usePipe: the macOS waker; tests take it on Linux too, where both kinds work.
    public static SyscallResult Create(out LoopWaker? waker, bool usePipe = false)
    {
        waker = null;
        if (OperatingSystem.IsLinux() && !usePipe)
        {
            SyscallResult created = Sys.EventFd();
            if (created.Ok)
                waker = new LoopWaker(created.Fd, created.Fd);
            return created;
        }
        SyscallResult piped = Sys.Pipe(out int readFd, out int writeFd);
        if (piped.Ok)
            waker = new LoopWaker(readFd, writeFd);
        return piped;
    }

    // Any thread. Only the first post after a wake-up writes: a burst of posts costs one syscall. After Dispose the
    // work is dropped: a late post (a host name resolved after the server stopped) must not write to an fd number
    // that may already belong to something else.
    public void Post(Action work)
    {
        if (_disposed)
            return;
        _work.Enqueue(work);
        if (Interlocked.Exchange(ref _signalled, 1) == 0)
            Signal();
    }

    // An eventfd takes an 8-byte count; a pipe any byte. EAGAIN means the loop is already due to wake.
    private void Signal()
    {
        Span<byte> one = stackalloc byte[8];
        BitConverter.TryWriteBytes(one, 1UL);
        Sys.Write(WriteFd, WriteFd == Fd ? one : one[..1]);
    }

    // Loop thread. Reset the flag before draining, so a post racing with the drain either is seen by this drain or
    // signals again.
    public void OnPollEvent(PollEvents events)
    {
        // One read empties an eventfd; a pipe holds at most a byte per signal, and 64 covers any that piled up.
        Span<byte> drained = stackalloc byte[64];
        Sys.Read(Fd, WriteFd == Fd ? drained[..8] : drained);
        Volatile.Write(ref _signalled, 0);
        while (_work.TryDequeue(out Action? work))
        {
            try
            {
                work();
            }
            catch (Exception e)
            {
                OnWorkFailed?.Invoke(e);
            }
        }
    }

    // Never called: OnPollEvent does not throw, so the waker is never taken off the loop.
    public void OnDispatchFailed(Exception error)
    {
    }

    public void Dispose()
    {
        _disposed = true;
        Sys.Close(Fd);
        if (WriteFd != Fd)
            Sys.Close(WriteFd);
    }
}
