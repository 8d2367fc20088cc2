// poll(2): the portable readiness API, and the lessons' O(n)-per-call model beside epoll.
using System.Runtime.InteropServices;

namespace EpollServer.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int poll(pollfd* fds, nuint nfds, int timeout);
}
