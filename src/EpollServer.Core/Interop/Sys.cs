// Span-based wrappers over Libc: each returns a SyscallResult and retries EINTR; the rest of the code calls these.
namespace EpollServer.Interop;

internal static unsafe class Sys
{
    public static SyscallResult Socket(int domain, int type, bool nonBlocking = true)
    {
        // SOCK_NONBLOCK and SOCK_CLOEXEC are 0 on macOS (PlatformConstants), which sets both up afterwards instead.
        nint rc;
        do rc = Libc.socket(domain, type | (nonBlocking ? Libc.SOCK_NONBLOCK : 0) | Libc.SOCK_CLOEXEC, 0);
        while (SyscallResult.Interrupted(rc));
        return rc >= 0 && PlatformConstants.IsMacOS ? ConfigureNewSocket((int)rc, nonBlocking) : SyscallResult.From(rc);
    }

    // macOS: what SOCK_NONBLOCK, SOCK_CLOEXEC (socket, accept4) and MSG_NOSIGNAL (send) do on Linux, as calls on each
    // new socket: close-on-exec, non-blocking, and SO_NOSIGPIPE so a write to a reset peer is EPIPE, not SIGPIPE.
    // The fd is closed when any of them fails, so a half-configured socket never escapes.
    private static SyscallResult ConfigureNewSocket(int fd, bool nonBlocking)
    {
        SyscallResult result = SetCloseOnExec(fd);
        if (result.Ok && nonBlocking)
            result = SetNonBlocking(fd);
        if (result.Ok)
            result = SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_NOSIGPIPE, 1);
        if (result.Ok)
            return SyscallResult.Success(fd);
        Close(fd);
        return result;
    }

    public static SyscallResult SetNonBlocking(int fd)
    {
        if (PlatformConstants.IsMacOS)
            return SyscallResult.From(Libc.SystemNative_FcntlSetIsNonBlocking(fd, 1));
        SyscallResult flags = Fcntl(fd, Libc.F_GETFL);
        return flags.Ok ? Fcntl(fd, Libc.F_SETFL, (int)flags.Value | Libc.O_NONBLOCK) : flags;
    }

    public static SyscallResult SetCloseOnExec(int fd) =>
        PlatformConstants.IsMacOS ? SyscallResult.From(Libc.SystemNative_FcntlSetFD(fd, Libc.PAL_FD_CLOEXEC)) : Fcntl(fd, Libc.F_SETFD, Libc.FD_CLOEXEC);

    // A receive or send timeout on a blocking socket (the clients'): the call then fails with EAGAIN.
    public static SyscallResult SetTimeout(int fd, int option, TimeSpan timeout)
    {
        long micros = (long)timeout.TotalMicroseconds;
        var value = new Libc.timeval { tv_sec = micros / 1_000_000, tv_usec = micros % 1_000_000 };
        return SyscallResult.From(Libc.setsockopt(fd, Libc.SOL_SOCKET, option, &value, (uint)sizeof(Libc.timeval)));
    }

    // A blocking connect is not restarted after EINTR (it goes on in the background), so it is not retried here.
    public static SyscallResult Connect(int fd, in Libc.sockaddr_storage address, uint length)
    {
        fixed (Libc.sockaddr_storage* p = &address)
            return SyscallResult.From(Libc.connect(fd, p, length));
    }

    public static SyscallResult SetSockOpt(int fd, int level, int option, int value)
    {
        nint rc;
        do rc = Libc.setsockopt(fd, level, option, &value, sizeof(int));
        while (SyscallResult.Interrupted(rc));
        return SyscallResult.From(rc);
    }

    // SO_LINGER {on, 0 s}: close(2) then sends RST instead of FIN (the load generator's rude peers).
    public static SyscallResult SetLingerZero(int fd)
    {
        var value = new Libc.linger { l_onoff = 1, l_linger = 0 };
        return SyscallResult.From(Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_LINGER, &value, (uint)sizeof(Libc.linger)));
    }

    public static SyscallResult GetSockOpt(int fd, int level, int option)
    {
        int value = 0;
        uint length = sizeof(int);
        nint rc;
        do rc = Libc.getsockopt(fd, level, option, &value, &length);
        while (SyscallResult.Interrupted(rc));
        return rc < 0 ? SyscallResult.From(rc) : SyscallResult.Success(value);
    }

    public static SyscallResult Bind(int fd, in Libc.sockaddr_storage address, uint length)
    {
        nint rc;
        fixed (Libc.sockaddr_storage* p = &address)
            do rc = Libc.bind(fd, p, length);
            while (SyscallResult.Interrupted(rc));
        return SyscallResult.From(rc);
    }

    public static SyscallResult Listen(int fd, int backlog) => SyscallResult.From(Libc.listen(fd, backlog));

    public static SyscallResult Accept(int fd, out Libc.sockaddr_storage peer, out uint peerLength)
    {
        peer = default;
        uint length = (uint)sizeof(Libc.sockaddr_storage);
        nint rc;
        fixed (Libc.sockaddr_storage* p = &peer)
        {
            if (PlatformConstants.IsMacOS)
            {
                // No accept4: between accept and the fcntl the fd is blocking and inheritable, which matters to
                // nobody here (the loop thread does both, and the server starts no processes).
                do rc = Libc.accept(fd, p, &length);
                while (SyscallResult.Interrupted(rc));
                if (rc >= 0)
                {
                    peerLength = length;
                    return ConfigureNewSocket((int)rc, nonBlocking: true);
                }
            }
            else
            {
                do rc = Libc.accept4(fd, p, &length, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
                while (SyscallResult.Interrupted(rc));
            }
        }
        peerLength = length;
        return SyscallResult.From(rc);
    }

    public static SyscallResult GetSockName(int fd, out Libc.sockaddr_storage address, out uint addressLength)
    {
        address = default;
        uint length = (uint)sizeof(Libc.sockaddr_storage);
        nint rc;
        fixed (Libc.sockaddr_storage* p = &address)
            rc = Libc.getsockname(fd, p, &length);
        addressLength = length;
        return SyscallResult.From(rc);
    }

    public static SyscallResult Recv(int fd, Span<byte> buffer)
    {
        nint rc;
        fixed (byte* p = buffer)
            do rc = Libc.recv(fd, p, (nuint)buffer.Length, 0);
            while (SyscallResult.Interrupted(rc));
        return SyscallResult.From(rc);
    }

    // One readv fills both free halves of a wrapped ring, where two recv calls would cost a second syscall.
    public static SyscallResult ReadV(int fd, Span<byte> first, Span<byte> second)
    {
        nint rc;
        fixed (byte* p1 = first)
        fixed (byte* p2 = second)
        {
            Libc.iovec* iov = stackalloc Libc.iovec[2];
            FillTwo(iov, p1, first.Length, p2, second.Length);
            do rc = Libc.readv(fd, iov, 2);
            while (SyscallResult.Interrupted(rc));
        }
        return SyscallResult.From(rc);
    }

    public static SyscallResult Send(int fd, ReadOnlySpan<byte> buffer)
    {
        nint rc;
        fixed (byte* p = buffer)
            do rc = Libc.send(fd, p, (nuint)buffer.Length, Libc.MSG_NOSIGNAL);
            while (SyscallResult.Interrupted(rc));
        return SyscallResult.From(rc);
    }

    // With MSG_TRUNC the result is the datagram's real length even when the buffer was shorter (Linux).
    public static SyscallResult RecvFrom(int fd, Span<byte> buffer, int flags, out Libc.sockaddr_storage peer, out uint peerLength)
    {
        peer = default;
        uint length = (uint)sizeof(Libc.sockaddr_storage);
        nint rc;
        fixed (byte* p = buffer)
        fixed (Libc.sockaddr_storage* address = &peer)
            do rc = Libc.recvfrom(fd, p, (nuint)buffer.Length, flags, address, &length);
            while (SyscallResult.Interrupted(rc));
        peerLength = length;
        return SyscallResult.From(rc);
    }

    public static SyscallResult SendTo(int fd, ReadOnlySpan<byte> buffer, in Libc.sockaddr_storage peer, uint peerLength)
    {
        nint rc;
        fixed (byte* p = buffer)
        fixed (Libc.sockaddr_storage* address = &peer)
            do rc = Libc.sendto(fd, p, (nuint)buffer.Length, Libc.MSG_NOSIGNAL, address, peerLength);
            while (SyscallResult.Interrupted(rc));
        return SyscallResult.From(rc);
    }

    // Both halves of a wrapped output ring in one syscall; sendmsg rather than writev for MSG_NOSIGNAL.
    public static SyscallResult SendV(int fd, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        nint rc;
        fixed (byte* p1 = first)
        fixed (byte* p2 = second)
        {
            Libc.iovec* iov = stackalloc Libc.iovec[2];
            FillTwo(iov, p1, first.Length, p2, second.Length);
            Libc.msghdr message = default;
            message.msg_iov = iov;
            message.msg_iovlen = 2;
            do rc = Libc.sendmsg(fd, &message, Libc.MSG_NOSIGNAL);
            while (SyscallResult.Interrupted(rc));
        }
        return SyscallResult.From(rc);
    }

    // The two halves of a wrapped ring as an iovec pair.
    private static void FillTwo(Libc.iovec* iov, byte* first, int firstLength, byte* second, int secondLength)
    {
        iov[0] = new Libc.iovec { iov_base = first, iov_len = (nuint)firstLength };
        iov[1] = new Libc.iovec { iov_base = second, iov_len = (nuint)secondLength };
    }

    public static SyscallResult Read(int fd, Span<byte> buffer)
    {
        nint rc;
        fixed (byte* p = buffer)
            do rc = Libc.read(fd, p, (nuint)buffer.Length);
            while (SyscallResult.Interrupted(rc));
        return SyscallResult.From(rc);
    }

    public static SyscallResult Write(int fd, ReadOnlySpan<byte> buffer)
    {
        nint rc;
        fixed (byte* p = buffer)
            do rc = Libc.write(fd, p, (nuint)buffer.Length);
            while (SyscallResult.Interrupted(rc));
        return SyscallResult.From(rc);
    }

    public static SyscallResult Shutdown(int fd, int how) => SyscallResult.From(Libc.shutdown(fd, how));

    // Never retried: Linux has released the fd even when close reports EINTR, and a retry could close a reused number.
    public static SyscallResult Close(int fd) => SyscallResult.From(Libc.close(fd));

    public static SyscallResult Fcntl(int fd, int command, int argument = 0)
    {
        nint rc;
        do rc = Libc.fcntl(fd, command, argument);
        while (SyscallResult.Interrupted(rc));
        return SyscallResult.From(rc);
    }

    public static SyscallResult OpenReadOnly(string path)
    {
        Span<byte> utf8 = stackalloc byte[256];
        int length = System.Text.Encoding.UTF8.GetBytes(path, utf8[..^1]);
        utf8[length] = 0;
        nint rc;
        fixed (byte* p = utf8)
            do rc = Libc.open(p, Libc.O_RDONLY | Libc.O_CLOEXEC);
            while (SyscallResult.Interrupted(rc));
        return SyscallResult.From(rc);
    }

    public static SyscallResult EpollCreate() => SyscallResult.From(Libc.epoll_create1(Libc.EPOLL_CLOEXEC));

    public static SyscallResult EventFd() => SyscallResult.From(Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC));

    // A non-blocking, close-on-exec pipe: the loop's wake-up where there is no eventfd (macOS).
    public static SyscallResult Pipe(out int readFd, out int writeFd)
    {
        readFd = writeFd = -1;
        int* fds = stackalloc int[2];
        SyscallResult result = SyscallResult.From(Libc.pipe(fds));
        if (!result.Ok)
            return result;
        result = ConfigurePipeEnd(fds[0]);
        if (result.Ok)
            result = ConfigurePipeEnd(fds[1]);
        if (!result.Ok)
        {
            Close(fds[0]);
            Close(fds[1]);
            return result;
        }
        (readFd, writeFd) = (fds[0], fds[1]);
        return SyscallResult.Success(0);
    }

    private static SyscallResult ConfigurePipeEnd(int fd)
    {
        SyscallResult result = SetCloseOnExec(fd);
        return result.Ok ? SetNonBlocking(fd) : result;
    }

    public static SyscallResult GetFdLimit(out ulong soft, out ulong hard)
    {
        Libc.rlimit limit;
        nint rc = Libc.getrlimit(Libc.RLIMIT_NOFILE, &limit);
        soft = limit.rlim_cur;
        hard = limit.rlim_max;
        return SyscallResult.From(rc);
    }

    public static SyscallResult SetFdLimit(ulong soft, ulong hard)
    {
        Libc.rlimit limit = new() { rlim_cur = soft, rlim_max = hard };
        return SyscallResult.From(Libc.setrlimit(Libc.RLIMIT_NOFILE, &limit));
    }

    public static SyscallResult Kill(int pid, int signal) => SyscallResult.From(Libc.kill(pid, signal));

    // The calling thread's name as the kernel knows it (top -H, ps -L, /proc/PID/task/TID/comm), cut to the kernel's
    // 15 bytes. .NET cuts Thread.Name the same way, keeping its start; a name that must tell threads apart in 15 bytes
    // is set here. macOS keeps 63 and takes Thread.Name whole, so this is Linux only.
    public static SyscallResult SetKernelThreadName(string name)
    {
        if (!OperatingSystem.IsLinux())
            return SyscallResult.Success(0);
        byte* bytes = stackalloc byte[16];
        int length = System.Text.Encoding.ASCII.GetBytes(name.AsSpan(0, Math.Min(name.Length, 15)), new Span<byte>(bytes, 15));
        bytes[length] = 0;
        return SyscallResult.From(Libc.prctl(Libc.PR_SET_NAME, bytes, 0, 0, 0));
    }

    // Pins the calling thread (and threads it creates later) to the given CPUs, numbered from 0 (at most 1024).
    // The CPUs the calling thread may run on (what taskset and a container's CPU set allow), in order; on a platform
    // without affinity masks, 0..ProcessorCount-1.
    public static int[] GetCpuAffinity()
    {
        if (!OperatingSystem.IsLinux())
            return [.. Enumerable.Range(0, Environment.ProcessorCount)];
        ulong* mask = stackalloc ulong[16];
        if (Libc.sched_getaffinity(0, 16 * sizeof(ulong), mask) != 0)
            return [.. Enumerable.Range(0, Environment.ProcessorCount)];
        var cpus = new List<int>();
        for (int cpu = 0; cpu < 1024; cpu++)
        {
            if ((mask[cpu / 64] & (1UL << (cpu % 64))) != 0)
                cpus.Add(cpu);
        }
        return [.. cpus];
    }

    public static SyscallResult SetCpuAffinity(ReadOnlySpan<int> cpus)
    {
        ulong* mask = stackalloc ulong[16];
        new Span<ulong>(mask, 16).Clear();
        foreach (int cpu in cpus)
        {
            if (cpu is < 0 or >= 1024)
                return SyscallResult.Failure(Errno.EINVAL);
            mask[cpu / 64] |= 1UL << (cpu % 64);
        }
        return SyscallResult.From(Libc.sched_setaffinity(0, 16 * sizeof(ulong), mask));
    }
}
