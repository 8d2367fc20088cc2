// The seam between the loop and a kernel readiness API: one implementation per backend, one file each.
using EpollServer.Interop;

namespace EpollServer.Reactor;

internal interface IPoller : IDisposable
{
    // The backend's own descriptor (epoll or kqueue), for fd accounting; -1 where a backend has none.
    int Fd { get; }

    string Name { get; }

    SyscallResult Add(int fd, ulong token, Interest interest);

    SyscallResult Modify(int fd, ulong token, Interest interest);

    SyscallResult Remove(int fd);

    // Waits up to timeoutMs (-1: forever, 0: poll) and fills events; returns the count. EINTR returns 0 events.
    SyscallResult Wait(Span<PollEvent> events, int timeoutMs);
}
