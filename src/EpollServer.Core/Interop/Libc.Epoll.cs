// epoll(7) and eventfd(2): the Linux readiness API and the loop's cross-thread wake-up.
using System.Runtime.InteropServices;

namespace EpollServer.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int epoll_create1(int flags);

    // event points at an epoll_event_packed on x86-64 and an epoll_event_aligned elsewhere (see Libc.Structs.cs).
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int epoll_ctl(int epfd, int op, int fd, void* @event);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int epoll_wait(int epfd, void* events, int maxevents, int timeout);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int eventfd(uint initval, int flags);
}
