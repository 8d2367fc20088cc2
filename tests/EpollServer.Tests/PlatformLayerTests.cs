// The macOS platform layer's pieces that also run on Linux, run here: the pipe waker, the socket set-up calls, and
// the runtime shim's two fcntl wrappers (the same System.Native code ships in the macOS runtime).
using EpollServer.Interop;
using EpollServer.Reactor;

namespace EpollServer.Tests;

public sealed class PlatformLayerTests
{
    [Fact]
    public void PipeWaker_WakesAWait_RunsThePostedWork_AndClosesBothEnds()
    {
        Assert.True(LoopWaker.Create(out LoopWaker? waker, usePipe: true).Ok);
        Assert.True(EpollPoller.Create(16, out EpollPoller? poller).Ok);
        using (poller)
        {
            Assert.NotEqual(waker!.Fd, waker.WriteFd);
            Assert.True(IsNonBlocking(waker.Fd) && IsNonBlocking(waker.WriteFd));
            Assert.True(poller!.Add(waker.Fd, 1, Interest.Read).Ok);
            var ran = new List<int>();
            for (int i = 0; i < 3; i++)
            {
                waker.Post(() => ran.Add(ran.Count));   // three posts, one byte written: the flag holds the rest
            }
            var events = new PollEvent[4];
            Assert.Equal(1, poller.Wait(events, 1000).Value);
            waker.OnPollEvent(events[0].Events);
            Assert.Equal([0, 1, 2], ran);
            Assert.Equal(0, poller.Wait(events, 0).Value);   // drained: nothing left to report
            int readFd = waker.Fd, writeFd = waker.WriteFd;
            string? readPipe = FdTarget(readFd), writePipe = FdTarget(writeFd);
            Assert.StartsWith("pipe:", readPipe);
            Assert.Equal(readPipe, writePipe);   // both ends of one pipe
            poller.Remove(readFd);
            waker.Dispose();
            // By identity: another test's thread may get either number back at once, but never this pipe.
            Assert.NotEqual(readPipe, FdTarget(readFd));
            Assert.NotEqual(writePipe, FdTarget(writeFd));
        }
    }

    // What an fd number refers to now ("pipe:[inode]", "socket:[inode]", a path), or null when it is not open.
    private static string? FdTarget(int fd)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    [Fact]
    public void SetNonBlocking_AndSetCloseOnExec_SetTheFlags()
    {
        SyscallResult socket = Sys.Socket(Libc.AF_INET, Libc.SOCK_STREAM, nonBlocking: false);
        Assert.True(socket.Ok);
        try
        {
            Assert.False(IsNonBlocking(socket.Fd));
            Assert.True(Sys.SetNonBlocking(socket.Fd).Ok);
            Assert.True(IsNonBlocking(socket.Fd));
            Assert.True(Sys.SetCloseOnExec(socket.Fd).Ok);
            Assert.Equal(Libc.FD_CLOEXEC, (int)Sys.Fcntl(socket.Fd, Libc.F_GETFD).Value & Libc.FD_CLOEXEC);
        }
        finally
        {
            Sys.Close(socket.Fd);
        }
    }

    [Fact]
    public void RuntimeShim_SetsNonBlockingAndCloseOnExec_WithTheValuesMacOSPasses()
    {
        // The shim's FcntlSetFD maps its argument as an open flag: PAL_FD_CLOEXEC (1) must come out as FD_CLOEXEC.
        SyscallResult created = SyscallResult.From(Libc.socket(Libc.AF_INET, Libc.SOCK_STREAM, 0));
        Assert.True(created.Ok);
        try
        {
            Assert.Equal(0, (int)Sys.Fcntl(created.Fd, Libc.F_GETFD).Value & Libc.FD_CLOEXEC);
            Assert.Equal(0, Libc.SystemNative_FcntlSetFD(created.Fd, Libc.PAL_FD_CLOEXEC));
            Assert.Equal(Libc.FD_CLOEXEC, (int)Sys.Fcntl(created.Fd, Libc.F_GETFD).Value & Libc.FD_CLOEXEC);
            Assert.False(IsNonBlocking(created.Fd));
            Assert.Equal(0, Libc.SystemNative_FcntlSetIsNonBlocking(created.Fd, 1));
            Assert.True(IsNonBlocking(created.Fd));
        }
        finally
        {
            Sys.Close(created.Fd);
        }
    }

    private static bool IsNonBlocking(int fd)
    {
        SyscallResult flags = Sys.Fcntl(fd, Libc.F_GETFL);
        Assert.True(flags.Ok);
        return ((int)flags.Value & Libc.O_NONBLOCK) != 0;
    }
}
