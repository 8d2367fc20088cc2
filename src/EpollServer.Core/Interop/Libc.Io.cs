// Byte I/O and descriptor calls: recv/send/sendmsg, read/write/readv, open/close/fcntl.
using System.Runtime.InteropServices;

namespace EpollServer.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint recv(int sockfd, void* buf, nuint len, int flags);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint send(int sockfd, void* buf, nuint len, int flags);

    // Datagrams: the peer's address comes with each one in and goes with each one out (UDP echo, ping --udp).
    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint recvfrom(int sockfd, void* buf, nuint len, int flags, void* src_addr, uint* addrlen);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint sendto(int sockfd, void* buf, nuint len, int flags, void* dest_addr, uint addrlen);

    // writev takes no flags, so it cannot say MSG_NOSIGNAL; a wrapped output ring is sent with sendmsg instead,
    // which is writev plus flags.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint sendmsg(int sockfd, msghdr* msg, int flags);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint readv(int fd, iovec* iov, int iovcnt);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint writev(int fd, iovec* iov, int iovcnt);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint read(int fd, void* buf, nuint count);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint write(int fd, void* buf, nuint count);

    // open is variadic (the mode); declared without it, which is safe because mode is only read with O_CREAT.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int open(byte* pathname, int flags);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int close(int fd);

    // fcntl is variadic. On x86-64 and Linux arm64 a variadic int travels in the same register as a named one,
    // so this declaration is exact there; Apple arm64 passes variadics on the stack and needs its own shape.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int fcntl(int fd, int cmd, int arg);
}

// The wake-up pipe where there is no eventfd (macOS).
internal static unsafe partial class Libc
{
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int pipe(int* pipefd);
}

// macOS on arm64 passes a variadic function's extra arguments on the stack, and a P/Invoke always calls as if the
// function were not variadic: fcntl(fd, F_SETFL, O_NONBLOCK) from C# would leave its third argument in a register
// that fcntl never reads. The runtime's own System.Native library wraps these two fcntl uses as plain functions, so
// on macOS they go through it; this is the only place we call into the runtime's shim.
internal static partial class Libc
{
    internal const string RuntimeShim = "libSystem.Native";
    internal const int PAL_FD_CLOEXEC = 1;   // what the runtime's managed side passes for FD_CLOEXEC; the shim maps it to 1

    [LibraryImport(RuntimeShim, EntryPoint = "SystemNative_FcntlSetIsNonBlocking", SetLastError = true)]
    internal static partial int SystemNative_FcntlSetIsNonBlocking(nint fd, int isNonBlocking);

    [LibraryImport(RuntimeShim, EntryPoint = "SystemNative_FcntlSetFD", SetLastError = true)]
    internal static partial int SystemNative_FcntlSetFD(nint fd, int flags);
}
