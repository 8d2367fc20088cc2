// Linux backend: level-triggered epoll, as Redis's ae_epoll.c and libuv use it.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using EpollServer.Interop;

namespace EpollServer.Reactor;

internal sealed unsafe class EpollPoller : IPoller
{
    // epoll_event is packed (12 bytes, data at offset 4) only on x86-64; the JIT folds these into constants.
    internal static readonly bool IsPacked = RuntimeInformation.ProcessArchitecture == Architecture.X64;
    internal static readonly int EventSize = IsPacked ? sizeof(Libc.epoll_event_packed) : sizeof(Libc.epoll_event_aligned);
    internal static readonly int DataOffset = IsPacked ? 4 : 8;

    private readonly int _epfd;
    private readonly byte* _events;
    private readonly int _capacity;

    private EpollPoller(int epfd, int capacity)
    {
        _epfd = epfd;
        _capacity = capacity;
        // Native memory: the kernel writes here on every wait, so it must never move and never be scanned by the GC.
        _events = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * EventSize));
    }

    public int Fd => _epfd;

    public string Name => "epoll";

    public static SyscallResult Create(int capacity, out EpollPoller? poller)
    {
        poller = null;
        SyscallResult created = Sys.EpollCreate();
        if (created.Ok)
            poller = new EpollPoller(created.Fd, capacity);
        return created;
    }

    public SyscallResult Add(int fd, ulong token, Interest interest) => Control(Libc.EPOLL_CTL_ADD, fd, token, interest);

    public SyscallResult Modify(int fd, ulong token, Interest interest) => Control(Libc.EPOLL_CTL_MOD, fd, token, interest);

    // Kernels before 2.6.9 required a non-null event even for DEL; passing one costs nothing.
    public SyscallResult Remove(int fd) => Control(Libc.EPOLL_CTL_DEL, fd, 0, Interest.None);

    private SyscallResult Control(int op, int fd, ulong token, Interest interest)
    {
        byte* ev = stackalloc byte[16];
        *(uint*)ev = ToEpoll(interest);
        Unsafe.WriteUnaligned(ev + DataOffset, token);
        return SyscallResult.From(Libc.epoll_ctl(_epfd, op, fd, ev));
    }

    public SyscallResult Wait(Span<PollEvent> events, int timeoutMs)
    {
        int max = Math.Min(events.Length, _capacity);
        int n = Libc.epoll_wait(_epfd, _events, max, timeoutMs);
        if (n < 0)
        {
            // A signal (SIGTERM, SIGUSR1) interrupting the wait is normal: report no events, the loop goes round.
            Errno error = Errno.Last;
            return error == Errno.EINTR ? SyscallResult.Success(0) : SyscallResult.Failure(error);
        }
        for (int i = 0; i < n; i++)
        {
            byte* ev = _events + (i * EventSize);
            events[i] = new PollEvent(Unsafe.ReadUnaligned<ulong>(ev + DataOffset), FromEpoll(*(uint*)ev));
        }
        return SyscallResult.Success(n);
    }

    private static uint ToEpoll(Interest interest)
    {
        uint mask = 0;
        if ((interest & Interest.Read) != 0)
            mask |= Libc.EPOLLIN;
        if ((interest & Interest.Write) != 0)
            mask |= Libc.EPOLLOUT;
        return mask;
    }

    private static PollEvents FromEpoll(uint mask)
    {
        PollEvents events = PollEvents.None;
        if ((mask & (Libc.EPOLLIN | Libc.EPOLLPRI | Libc.EPOLLRDHUP)) != 0)
            events |= PollEvents.Readable;
        if ((mask & Libc.EPOLLOUT) != 0)
            events |= PollEvents.Writable;
        if ((mask & (Libc.EPOLLHUP | Libc.EPOLLERR)) != 0)
            events |= PollEvents.Failure;
        return events;
    }

    public void Dispose()
    {
        NativeMemory.Free(_events);
        Sys.Close(_epfd);
    }
}
