// libkqueue before 2.7.0 cannot hold a read and a write knote on one fd, so --poller kqueue refuses it by the version
// the library reports. No libkqueue package can be had here, so a stand-in libkqueue.so.0 (built by gcc) answers the
// version query as a given release would, and the daemon is started against it through LD_LIBRARY_PATH.
using EpollServer.Interop;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class LibkqueueVersionTests
{
    // kevent() answers EVFILT_LIBKQUEUE/NOTE_VERSION as libkqueue does: data = major<<24 | minor<<16 | patch<<8, taken
    // from STANDIN_VERSION (hex); without it, EV_ERROR with EINVAL, as a release without that filter does.
    private const string StandIn = """
        #include <errno.h>
        #include <stdint.h>
        #include <stdlib.h>
        #include <sys/eventfd.h>
        struct kevent { uintptr_t ident; short filter; unsigned short flags; unsigned int fflags; intptr_t data; void *udata; };
        int kqueue(void) { return eventfd(0, EFD_CLOEXEC); }
        int kevent(int kq, const struct kevent *changes, int nchanges, struct kevent *events, int nevents, const void *timeout)
        {
            const char *version = getenv("STANDIN_VERSION");
            if (nchanges != 1 || changes[0].filter != -12 || changes[0].fflags != 1 || nevents < 1) { errno = ENOSYS; return -1; }
            events[0] = changes[0];
            if (version != NULL) events[0].data = (intptr_t)strtol(version, NULL, 16);
            else { events[0].flags |= 0x4000; events[0].data = EINVAL; }
            return 1;
        }
        """;

    [Theory]
    [InlineData("02000300", "libkqueue 2.0.3")]
    [InlineData("02060900", "libkqueue 2.6.9")]
    [InlineData(null, "a libkqueue too old to report its version")]
    public void PollerKqueue_RefusesALibkqueueOlderThan270_NamingItsVersion(string? reported, string found)
    {
        string dir = BuildStandIn();
        var environment = new Dictionary<string, string> { ["LD_LIBRARY_PATH"] = dir };
        if (reported is not null)
            environment["STANDIN_VERSION"] = reported;
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0 --poller kqueue", expectListening: false, environment: environment);
        Assert.Equal(2, daemon.WaitForExit());
        Assert.Contains($"stderr: epollserver: --poller kqueue: libkqueue.so.0 is {found}; the kqueue backend needs libkqueue 2.7.0 " +
                        "or newer (older releases cannot hold a read and a write knote on one fd)", daemon.Lines);
        Directory.Delete(dir, recursive: true);
    }

    [Theory]
    [InlineData(0x02070000, null)]
    [InlineData(0x02070100, null)]
    [InlineData(0x02080000, null)]
    [InlineData(0x03000000, null)]
    [InlineData(0x020609ff, "libkqueue 2.6.9")]
    [InlineData(0x01090000, "libkqueue 1.9.0")]
    [InlineData(22, "a libkqueue too old to report its version")]
    [InlineData(0, "a libkqueue too old to report its version")]
    public void TheVersionWord_IsReadAsMajorMinorPatchRelease(long reported, string? refusedAs)
    {
        string? refusal = Libc.RefuseLibkqueue(reported, "libkqueue.so.0");
        if (refusedAs is null)
            Assert.Null(refusal);
        else
            Assert.StartsWith($"libkqueue.so.0 is {refusedAs};", refusal);
    }

    private static string BuildStandIn()
    {
        string dir = Directory.CreateTempSubdirectory("epollserver-libkqueue").FullName;
        string source = Path.Combine(dir, "standin.c");
        File.WriteAllText(source, StandIn);
        ExternalTool.Run("gcc", ["-shared", "-fPIC", "-o", Path.Combine(dir, "libkqueue.so.0"), source],
            "gcc could not build the stand-in libkqueue (apt-get install gcc)");
        return dir;
    }
}
