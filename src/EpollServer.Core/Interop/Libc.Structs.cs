// Native structs laid out byte for byte as the Linux headers define them (sizes and offsets proven in NativeAbiTests).
using System.Runtime.InteropServices;

// C spellings on purpose: Interop/ keeps the headers' names, so each declaration can be checked against its man page.
#pragma warning disable CS8981

namespace EpollServer.Interop;

internal static unsafe partial class Libc
{
    // x86-64 declares struct epoll_event __attribute__((packed)) for compatibility with 32-bit code:
    // 12 bytes, data at offset 4. Every other architecture aligns the u64: 16 bytes, data at offset 8.
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    internal struct epoll_event_packed
    {
        public uint events;
        public ulong data;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct epoll_event_aligned
    {
        public uint events;
        public ulong data;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct sockaddr_in
    {
        public ushort sin_family;
        public ushort sin_port;      // network byte order
        public uint sin_addr;        // network byte order
        public ulong sin_zero;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct sockaddr_in6
    {
        public ushort sin6_family;
        public ushort sin6_port;     // network byte order
        public uint sin6_flowinfo;
        public fixed byte sin6_addr[16];
        public uint sin6_scope_id;
    }

    // Large enough for any address family; accept4 and getsockname write into it.
    [StructLayout(LayoutKind.Sequential, Size = 128)]
    internal struct sockaddr_storage
    {
        public ushort ss_family;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct iovec
    {
        public void* iov_base;
        public nuint iov_len;
    }

    // glibc's layout: socklen_t then padding before the pointer, size_t lengths.
    [StructLayout(LayoutKind.Sequential)]
    internal struct msghdr
    {
        public void* msg_name;
        public uint msg_namelen;
        public iovec* msg_iov;
        public nuint msg_iovlen;
        public void* msg_control;
        public nuint msg_controllen;
        public int msg_flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct linger
    {
        public int l_onoff;
        public int l_linger;
    }

    // One entry of poll(2)'s array: the fd, what we ask for, what the kernel answers.
    [StructLayout(LayoutKind.Sequential)]
    internal struct pollfd
    {
        public int fd;
        public short events;
        public short revents;
    }

    // SO_RCVTIMEO/SO_SNDTIMEO for the blocking client sockets of `client` and `ping`.
    [StructLayout(LayoutKind.Sequential)]
    internal struct timeval
    {
        public long tv_sec;
        public long tv_usec;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct rlimit
    {
        public ulong rlim_cur;
        public ulong rlim_max;
    }
}
