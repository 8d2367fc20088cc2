// Proves every struct layout and constant in Interop/ against the system's own headers: a C program compiled with
// gcc prints the real values, and each is compared with what the C# declarations say.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using EpollServer.Interop;
using EpollServer.Reactor;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class NativeAbiTests
{
    private const string Program = """
        #include <stdio.h>
        #include <stddef.h>
        #include <errno.h>
        #include <fcntl.h>
        #include <netinet/in.h>
        #include <netinet/tcp.h>
        #include <poll.h>
        #include <signal.h>
        #include <sys/epoll.h>
        #include <sys/eventfd.h>
        #include <sys/prctl.h>
        #include <sys/resource.h>
        #include <sys/socket.h>
        #include <sys/time.h>
        #include <sys/uio.h>
        #define P(name) printf("%s\t%ld\n", #name, (long)(name));
        int main(void) {
            P(sizeof(struct epoll_event)) P(offsetof(struct epoll_event, data))
            P(sizeof(struct sockaddr_in)) P(offsetof(struct sockaddr_in, sin_port)) P(offsetof(struct sockaddr_in, sin_addr))
            P(sizeof(struct sockaddr_in6)) P(offsetof(struct sockaddr_in6, sin6_port)) P(offsetof(struct sockaddr_in6, sin6_flowinfo))
            P(offsetof(struct sockaddr_in6, sin6_addr)) P(offsetof(struct sockaddr_in6, sin6_scope_id))
            P(sizeof(struct sockaddr_storage)) P(sizeof(struct iovec)) P(sizeof(struct msghdr))
            P(offsetof(struct msghdr, msg_iov)) P(offsetof(struct msghdr, msg_iovlen)) P(offsetof(struct msghdr, msg_flags))
            P(sizeof(struct linger)) P(sizeof(struct rlimit)) P(sizeof(struct timeval)) P(offsetof(struct timeval, tv_usec))
            P(sizeof(struct pollfd)) P(offsetof(struct pollfd, events)) P(offsetof(struct pollfd, revents))
            P(POLLIN) P(POLLPRI) P(POLLOUT) P(POLLERR) P(POLLHUP) P(POLLNVAL)
            P(AF_INET) P(AF_INET6) P(SOCK_STREAM) P(SOCK_DGRAM) P(SOCK_NONBLOCK) P(SOCK_CLOEXEC) P(SOL_SOCKET)
            P(SO_REUSEADDR) P(SO_REUSEPORT) P(SO_ERROR) P(SO_SNDBUF) P(SO_RCVBUF) P(SO_LINGER) P(IPPROTO_TCP) P(IPPROTO_IPV6)
            P(TCP_NODELAY) P(IPV6_V6ONLY) P(SO_RCVTIMEO) P(SO_SNDTIMEO) P(MSG_TRUNC) P(MSG_DONTWAIT) P(MSG_NOSIGNAL) P(SHUT_RD) P(SHUT_WR) P(SHUT_RDWR)
            P(EPOLL_CLOEXEC) P(EPOLL_CTL_ADD) P(EPOLL_CTL_DEL) P(EPOLL_CTL_MOD) P(EPOLLIN) P(EPOLLPRI) P(EPOLLOUT)
            P(EPOLLERR) P(EPOLLHUP) P(EPOLLRDHUP) P(EFD_NONBLOCK) P(EFD_CLOEXEC) P(O_RDONLY) P(O_NONBLOCK) P(O_CLOEXEC)
            P(F_GETFD) P(F_SETFD) P(F_GETFL) P(F_SETFL) P(FD_CLOEXEC) P(RLIMIT_NOFILE) P(SIGTERM) P(PR_SET_NAME)
            P(EPERM) P(ENOENT) P(EINTR) P(EBADF) P(EAGAIN) P(EWOULDBLOCK) P(ENOMEM) P(EACCES) P(EEXIST) P(EINVAL) P(ENFILE) P(EMFILE)
            P(EPIPE) P(EPROTO) P(EAFNOSUPPORT) P(EADDRINUSE) P(EADDRNOTAVAIL) P(ECONNABORTED) P(ECONNRESET)
            P(ENOBUFS) P(ENOTCONN) P(ETIMEDOUT) P(ECONNREFUSED) P(EHOSTUNREACH) P(EINPROGRESS)
            return 0;
        }
        """;

    // libkqueue's <kqueue/sys/event.h>, when it is installed: its struct kevent and the values this code uses. Without
    // the header the program prints `header 0` alone, and the test that needs it reports itself as not run.
    internal const string KqueueProgram = """
        #include <stdio.h>
        #include <stddef.h>
        #include <stdint.h>
        #define P(name) printf("%s\t%ld\n", #name, (long)(name));
        #if __has_include(<kqueue/sys/event.h>)
        #include <kqueue/sys/event.h>
        int main(void) {
            printf("header\t1\n");
            P(sizeof(struct kevent)) P(offsetof(struct kevent, filter)) P(offsetof(struct kevent, flags))
            P(offsetof(struct kevent, fflags)) P(offsetof(struct kevent, data)) P(offsetof(struct kevent, udata))
            P(EVFILT_READ) P(EVFILT_WRITE) P(EV_ADD) P(EV_DELETE) P(EV_ENABLE) P(EV_DISABLE) P(EV_CLEAR) P(EV_RECEIPT)
            P(EV_ERROR) P(EV_EOF) P(EVFILT_LIBKQUEUE) P(NOTE_VERSION)
            return 0;
        }
        #else
        int main(void) { printf("header\t0\n"); return 0; }
        #endif
        """;

    private static readonly Lazy<Dictionary<string, long>> Header = new(() => CompileAndRun(Program));

    // The kqueue constants are checked against <sys/event.h> (KeventAbiTests), not against Linux's headers.
    internal static bool IsKqueueConstant(string name) =>
        name.StartsWith("EV_", StringComparison.Ordinal) || name.StartsWith("EVFILT_", StringComparison.Ordinal) || name.StartsWith("NOTE_", StringComparison.Ordinal);

    [Fact]
    public void EpollEvent_LayoutMatchesHeader()
    {
        Assert.Equal(Header.Value["sizeof(struct epoll_event)"], EpollPoller.EventSize);
        Assert.Equal(Header.Value["offsetof(struct epoll_event, data)"], EpollPoller.DataOffset);
        if (RuntimeInformation.ProcessArchitecture == Architecture.X64)
            Assert.Equal(12, Unsafe.SizeOf<Libc.epoll_event_packed>());
        else
            Assert.Equal(16, Unsafe.SizeOf<Libc.epoll_event_aligned>());
    }

    [Fact]
    public void SocketAddresses_LayoutMatchesHeader()
    {
        Expect("sizeof(struct sockaddr_in)", Unsafe.SizeOf<Libc.sockaddr_in>());
        Expect("offsetof(struct sockaddr_in, sin_port)", Offset<Libc.sockaddr_in>(nameof(Libc.sockaddr_in.sin_port)));
        Expect("offsetof(struct sockaddr_in, sin_addr)", Offset<Libc.sockaddr_in>(nameof(Libc.sockaddr_in.sin_addr)));
        Expect("sizeof(struct sockaddr_in6)", Unsafe.SizeOf<Libc.sockaddr_in6>());
        Expect("offsetof(struct sockaddr_in6, sin6_port)", Offset<Libc.sockaddr_in6>(nameof(Libc.sockaddr_in6.sin6_port)));
        Expect("offsetof(struct sockaddr_in6, sin6_flowinfo)", Offset<Libc.sockaddr_in6>(nameof(Libc.sockaddr_in6.sin6_flowinfo)));
        Expect("offsetof(struct sockaddr_in6, sin6_addr)", Offset<Libc.sockaddr_in6>(nameof(Libc.sockaddr_in6.sin6_addr)));
        Expect("offsetof(struct sockaddr_in6, sin6_scope_id)", Offset<Libc.sockaddr_in6>(nameof(Libc.sockaddr_in6.sin6_scope_id)));
        Expect("sizeof(struct sockaddr_storage)", Unsafe.SizeOf<Libc.sockaddr_storage>());
    }

    [Fact]
    public void IoAndResourceStructs_LayoutMatchesHeader()
    {
        Expect("sizeof(struct iovec)", Unsafe.SizeOf<Libc.iovec>());
        Expect("sizeof(struct msghdr)", Unsafe.SizeOf<Libc.msghdr>());
        Expect("offsetof(struct msghdr, msg_iov)", Offset<Libc.msghdr>(nameof(Libc.msghdr.msg_iov)));
        Expect("offsetof(struct msghdr, msg_iovlen)", Offset<Libc.msghdr>(nameof(Libc.msghdr.msg_iovlen)));
        Expect("offsetof(struct msghdr, msg_flags)", Offset<Libc.msghdr>(nameof(Libc.msghdr.msg_flags)));
        Expect("sizeof(struct linger)", Unsafe.SizeOf<Libc.linger>());
        Expect("sizeof(struct rlimit)", Unsafe.SizeOf<Libc.rlimit>());
        Expect("sizeof(struct timeval)", Unsafe.SizeOf<Libc.timeval>());
        Expect("sizeof(struct pollfd)", Unsafe.SizeOf<Libc.pollfd>());
        Expect("offsetof(struct pollfd, events)", Offset<Libc.pollfd>(nameof(Libc.pollfd.events)));
        Expect("offsetof(struct pollfd, revents)", Offset<Libc.pollfd>(nameof(Libc.pollfd.revents)));
        Expect("offsetof(struct timeval, tv_usec)", Offset<Libc.timeval>(nameof(Libc.timeval.tv_usec)));
    }

    [Fact]
    public void EveryConstant_MatchesHeader()
    {
        // Reflection over Libc's constants: a new constant is checked as soon as the C program prints it too.
        // The constants, and the per-platform values read at start-up (Libc.Platform.cs), which must be Linux's here.
        var constants = typeof(Libc).GetFields(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)
            .Where(f => f.IsLiteral || (f.IsInitOnly && f.FieldType == typeof(int))).ToList();
        Assert.True(constants.Count > 40, "expected Libc's constants to be found by reflection");
        Assert.Contains(constants, f => f.Name == "SOL_SOCKET" && f.IsInitOnly);
        var notLinux = new[] { nameof(Libc.Name), nameof(Libc.KqueueLibrary), nameof(Libc.RuntimeShim), nameof(Libc.PAL_FD_CLOEXEC), nameof(Libc.SO_NOSIGPIPE) };
        foreach (var field in constants.Where(f => !notLinux.Contains(f.Name) && !IsKqueueConstant(f.Name)))
        {
            Assert.True(Header.Value.ContainsKey(field.Name), $"the C program does not print {field.Name}: add it so it is checked");
            Assert.True(Header.Value[field.Name] == Convert.ToInt64(field.GetValue(null)), $"{field.Name}: C# says {field.GetValue(null)}, the header says {Header.Value[field.Name]}");
        }
    }

    [Fact]
    public void EveryErrno_MatchesHeader()
    {
        var named = typeof(Errno).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Where(f => f.FieldType == typeof(Errno) && f.Name != nameof(Errno.None)).ToList();
        Assert.True(named.Count >= 20);
        foreach (var field in named)
            Assert.True(Header.Value[field.Name] == ((Errno)field.GetValue(null)!).Value, $"{field.Name} differs from <errno.h>");
        Assert.Equal(Header.Value["EWOULDBLOCK"], Errno.EAGAIN.Value);
    }

    private static void Expect(string key, long actual) =>
        Assert.True(Header.Value[key] == actual, $"{key}: the header says {Header.Value[key]}, C# says {actual}");

    internal static long Offset<T>(string field) => Marshal.OffsetOf<T>(field).ToInt64();

    internal static Dictionary<string, long> CompileAndRun(string program)
    {
        string dir = Directory.CreateTempSubdirectory("epollserver-abi").FullName;
        string source = Path.Combine(dir, "abi.c");
        string binary = Path.Combine(dir, "abi");
        File.WriteAllText(source, program);
        ExternalTool.Run("gcc", ["-D_GNU_SOURCE", "-o", binary, source], "gcc is needed to prove the ABI against the headers (apt-get install gcc; .ci/run installs it)");
        string output = ExternalTool.Run(binary, [], "the compiled ABI probe failed");
        Directory.Delete(dir, recursive: true);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(parts => parts[0], parts => long.Parse(parts[1]));
    }
}

// struct kevent and its constants, twice: against kevent(2)'s documented definition (macOS, FreeBSD's freebsd11
// layout, libkqueue), typed in here, which always runs; and against libkqueue's own header, compiled, which runs only
// where that header is installed and otherwise reports itself as not run, with the reason.
public sealed class KeventAbiTests
{
    private static readonly Lazy<Dictionary<string, long>> KqueueHeader = new(() => NativeAbiTests.CompileAndRun(NativeAbiTests.KqueueProgram));

    // Read at discovery ([BackendFact]); a gcc that fails here is reported by the test itself when it runs.
    public static string? NotRunBecause
    {
        get
        {
            try
            {
                return KqueueHeader.Value["header"] == 0
                    ? "kevent ABI against libkqueue's header not run: <kqueue/sys/event.h> is not installed (libkqueue-dev)"
                    : null;
            }
            catch (Exception)
            {
                return null;
            }
        }
    }

    // kevent(2): { uintptr_t ident; short filter; unsigned short flags; unsigned int fflags; intptr_t data; void *udata; }
    // on 64-bit; <sys/event.h>'s values shared by the three, and libkqueue 2.x's version filter.
    [Fact]
    public void Kevent_LayoutAndConstants_AreTheDocumentedDefinition()
    {
        Assert.Equal(32, Unsafe.SizeOf<Libc.kevent_t>());
        Assert.Equal((8L, 10L, 12L, 16L, 24L), (NativeAbiTests.Offset<Libc.kevent_t>(nameof(Libc.kevent_t.filter)),
            NativeAbiTests.Offset<Libc.kevent_t>(nameof(Libc.kevent_t.flags)), NativeAbiTests.Offset<Libc.kevent_t>(nameof(Libc.kevent_t.fflags)),
            NativeAbiTests.Offset<Libc.kevent_t>(nameof(Libc.kevent_t.data)), NativeAbiTests.Offset<Libc.kevent_t>(nameof(Libc.kevent_t.udata))));
        var documented = new Dictionary<string, long>
        {
            ["EVFILT_READ"] = -1, ["EVFILT_WRITE"] = -2, ["EV_ADD"] = 0x0001, ["EV_DELETE"] = 0x0002, ["EV_ENABLE"] = 0x0004,
            ["EV_DISABLE"] = 0x0008, ["EV_CLEAR"] = 0x0020, ["EV_RECEIPT"] = 0x0040, ["EV_ERROR"] = 0x4000, ["EV_EOF"] = 0x8000,
            ["EVFILT_LIBKQUEUE"] = -12, ["NOTE_VERSION"] = 0x0001,
        };
        Assert.Equal(documented.Keys.Order(), KqueueConstants().Select(f => f.Name).Order());
        foreach (var field in KqueueConstants())
            Assert.True(documented[field.Name] == Convert.ToInt64(field.GetValue(null)), $"{field.Name}: C# says {field.GetValue(null)}, kevent(2) says {documented[field.Name]}");
    }

    [BackendFact]
    public void Kevent_LayoutAndConstants_MatchLibkqueuesHeader()
    {
        Dictionary<string, long> header = KqueueHeader.Value;
        Assert.True(header["header"] == 1, "libkqueue's <kqueue/sys/event.h> is not installed");
        Assert.Equal(header["sizeof(struct kevent)"], Unsafe.SizeOf<Libc.kevent_t>());
        foreach (string field in new[] { "filter", "flags", "fflags", "data", "udata" })
            Assert.True(header[$"offsetof(struct kevent, {field})"] == NativeAbiTests.Offset<Libc.kevent_t>(field), $"offsetof(struct kevent, {field}) differs from the header");
        foreach (var field in KqueueConstants())
            Assert.True(header[field.Name] == Convert.ToInt64(field.GetValue(null)), $"{field.Name}: C# says {field.GetValue(null)}, <kqueue/sys/event.h> says {header[field.Name]}");
    }

    private static List<System.Reflection.FieldInfo> KqueueConstants() =>
        typeof(Libc).GetFields(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)
            .Where(f => f.IsLiteral && NativeAbiTests.IsKqueueConstant(f.Name)).ToList();
}
