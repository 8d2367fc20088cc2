// What accept4 and the server set on every accepted socket, read back from the kernel.
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class AcceptedSocketTests
{
    [Fact]
    public async Task AcceptedSockets_AreNonBlockingCloseOnExecAndNoDelay()
    {
        using var server = new TestServer();
        using var client = TestClient.Connect(server.Port);
        Assert.True(client.EchoesProbe([1]));
        FdReport report = await server.Server.GetFdReportAsync().WaitAsync(TimeSpan.FromSeconds(10));
        int fd = Assert.Single(report.ConnectionFds);
        Assert.NotEqual(0, Sys.Fcntl(fd, Libc.F_GETFL).Value & Libc.O_NONBLOCK);
        Assert.NotEqual(0, Sys.Fcntl(fd, Libc.F_GETFD).Value & Libc.FD_CLOEXEC);
        Assert.Equal(1, Sys.GetSockOpt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY).Value);
        foreach (int own in report.ListenerFds.Concat(report.PollerFds).Concat(report.WakerFds).Append(report.SpareFd))
            Assert.NotEqual(0, Sys.Fcntl(own, Libc.F_GETFD).Value & Libc.FD_CLOEXEC);
    }

    [Fact]
    public async Task FdReport_IsAnsweredByTheLoopThreadWhenPostedFromAnother()
    {
        using var server = new TestServer();
        // The loop sleeps in epoll_wait with no timers: only the eventfd can wake it to answer.
        var reports = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Task.Run(server.Server.GetFdReportAsync)))
            .WaitAsync(TimeSpan.FromSeconds(10));
        Assert.All(reports, r => Assert.Single(r.ListenerFds));
    }
}
