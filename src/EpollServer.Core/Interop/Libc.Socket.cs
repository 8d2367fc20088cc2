// Socket calls from <sys/socket.h>: creation, options, addresses, accept, shutdown.
using System.Runtime.InteropServices;

namespace EpollServer.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int setsockopt(int sockfd, int level, int optname, void* optval, uint optlen);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int getsockopt(int sockfd, int level, int optname, void* optval, uint* optlen);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int bind(int sockfd, void* addr, uint addrlen);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int listen(int sockfd, int backlog);

    // SOCK_NONBLOCK|SOCK_CLOEXEC in flags saves the two fcntl calls per connection that plain accept needs.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int accept4(int sockfd, void* addr, uint* addrlen, int flags);

    // macOS has no accept4: accept, then fcntl (Sys.Accept).
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int accept(int sockfd, void* addr, uint* addrlen);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int connect(int sockfd, void* addr, uint addrlen);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int getsockname(int sockfd, void* addr, uint* addrlen);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int shutdown(int sockfd, int how);
}
