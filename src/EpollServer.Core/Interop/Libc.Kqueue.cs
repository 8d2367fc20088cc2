// kqueue(2) and kevent(2), the BSD readiness API: in the system C library on macOS and FreeBSD, and on Linux in
// libkqueue (libkqueue.so.0), a userspace kqueue built on epoll. Values as in <sys/event.h>, which macOS, FreeBSD and
// libkqueue share for everything used here; NativeAbiTests compiles the layout from the kevent(2) definition.
using System.Runtime.InteropServices;

#pragma warning disable CS8981   // C spellings on purpose

namespace EpollServer.Interop;

internal static unsafe partial class Libc
{
    // A logical library name, resolved per platform by ResolveKqueue (Libc.cs registers the resolver).
    internal const string KqueueLibrary = "kqueue";

    internal const short EVFILT_READ = -1;
    internal const short EVFILT_WRITE = -2;
    internal const ushort EV_ADD = 0x0001;
    internal const ushort EV_DELETE = 0x0002;
    internal const ushort EV_ENABLE = 0x0004;
    internal const ushort EV_DISABLE = 0x0008;
    internal const ushort EV_CLEAR = 0x0020;     // edge-triggered; this server never sets it (level-triggered)
    internal const ushort EV_RECEIPT = 0x0040;   // answer every change with an EV_ERROR entry (data 0 on success)
    internal const ushort EV_ERROR = 0x4000;     // returned: data holds an errno for the change that failed
    internal const ushort EV_EOF = 0x8000;       // returned: the peer shut its side; fflags may hold a socket error

    // 32 bytes on 64-bit macOS, FreeBSD before 12 and libkqueue. (FreeBSD 12+ appends ext[4] for 64 bytes and
    // keeps the old layout under its freebsd11 symbol versions; FreeBSD is not a target yet.)
    [StructLayout(LayoutKind.Sequential)]
    internal struct kevent_t
    {
        public nuint ident;     // uintptr_t: the fd
        public short filter;
        public ushort flags;
        public uint fflags;
        public nint data;       // intptr_t: bytes readable/writable, or an errno with EV_ERROR
        public nuint udata;     // void*: our token
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct timespec
    {
        public nint tv_sec;
        public nint tv_nsec;
    }

    [LibraryImport(KqueueLibrary, SetLastError = true)]
    internal static partial int kqueue();

    [LibraryImport(KqueueLibrary, SetLastError = true)]
    internal static partial int kevent(int kq, kevent_t* changelist, int nchanges, kevent_t* eventlist, int nevents, timespec* timeout);

    // Where kqueue lives on this platform, and whether it loads: null when it does, else one line saying why not.
    internal static string? KqueueUnavailable => s_kqueueUnavailable.Value;

    private static readonly Lazy<string?> s_kqueueUnavailable = new(() =>
    {
        string path = KqueuePath;
        if (!NativeLibrary.TryLoad(path, out nint handle) || !NativeLibrary.TryGetExport(handle, "kevent", out _))
            return OperatingSystem.IsLinux()
                ? $"the kqueue backend needs libkqueue ({path}, the userspace kqueue for Linux), which is not installed"
                : $"kqueue could not be loaded from {path}";
        return OperatingSystem.IsLinux() ? RefuseLibkqueue(LibkqueueVersion(), path) : null;
    });

    // libkqueue's own filter: EV_ADD with NOTE_VERSION answers (major << 24 | minor << 16 | patch << 8 | release) in
    // data. Older releases do not know the filter and answer EV_ERROR (data is then an errno, far below 1.0.0).
    internal const short EVFILT_LIBKQUEUE = -12;
    internal const uint NOTE_VERSION = 0x0001;

    // Before 2.7.0 libkqueue could not be trusted with a read and a write knote on one fd (2.0.x refuses the second
    // EV_ADD), and the write knote is how backpressure and hang-ups are seen; the 2.7 series passes every kqueue test.
    internal static readonly Version MinimumLibkqueue = new(2, 7, 0);

    // What the loaded libkqueue reports in NOTE_VERSION's data; 0 when it cannot be asked.
    private static long LibkqueueVersion()
    {
        int kq = kqueue();
        if (kq < 0)
            return 0;
        var change = new kevent_t { filter = EVFILT_LIBKQUEUE, flags = EV_ADD, fflags = NOTE_VERSION };
        kevent_t answer = default;
        timespec now = default;
        int answered = kevent(kq, &change, 1, &answer, 1, &now);
        close(kq);
        return answered == 1 && answer.filter == EVFILT_LIBKQUEUE ? answer.data : 0;
    }

    // Null when the reported version is new enough, else the one line that refuses --poller kqueue.
    internal static string? RefuseLibkqueue(long reported, string path)
    {
        var version = new Version((int)(reported >> 24) & 0xff, (int)(reported >> 16) & 0xff, (int)(reported >> 8) & 0xff);
        if (version >= MinimumLibkqueue)
            return null;
        string found = version.Major == 0 ? "a libkqueue too old to report its version" : $"libkqueue {version}";
        return $"{path} is {found}; the kqueue backend needs libkqueue {MinimumLibkqueue} or newer " +
               "(older releases cannot hold a read and a write knote on one fd)";
    }

    private static string KqueuePath =>
        OperatingSystem.IsMacOS() ? "libSystem.dylib" : OperatingSystem.IsFreeBSD() ? "libc.so.7" : "libkqueue.so.0";

    private static nint ResolveKqueue() => NativeLibrary.TryLoad(KqueuePath, out nint handle) ? handle : 0;
}
