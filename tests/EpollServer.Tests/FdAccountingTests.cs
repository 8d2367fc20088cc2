// The daemon's own fd accounting against what the kernel shows in /proc/PID/fd and what lsof -p PID prints:
// +N after N connections, back to the baseline after they close, and no leak across 10,000 connect/close cycles;
// with one reactor, and with three (a poller and a waker each; handoff, and a listener each with reuseport).
using System.Diagnostics;
using EpollServer.Diagnostics;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class FdAccountingTests
{
    public static TheoryData<string> Reactors => ["--reactors 1", "--reactors 3", "--reactors 3 --accept reuseport"];

    [Theory]
    [MemberData(nameof(Reactors))]
    public void OwnReport_MatchesProcFdAndLsof_WithNConnectionsOpenAndAfterTheyClose(string reactors)
    {
        using var daemon = DaemonProcess.Start($"--address 127.0.0.1 --port 0 {reactors}");
        DaemonFdReport idle = DaemonFdReport.Request(daemon);   // also loads the stats code, so its dlls are open
        AssertReportMatchesProc(daemon.Pid, idle);
        Assert.Equal(0, idle.Connections);
        int baselineTotal = ProcFd.Count(daemon.Pid);

        const int n = 40;
        var clients = Enumerable.Range(0, n).Select(_ => TestClient.Connect(daemon.Port)).ToList();
        clients.ForEach(c => Assert.True(c.EchoesProbe([7, 7])));
        DaemonFdReport busy = DaemonFdReport.Request(daemon);
        Assert.Equal(n, busy.Connections);
        Assert.Equal(idle.OwnTotal + n, busy.OwnTotal);
        AssertReportMatchesProc(daemon.Pid, busy);
        Assert.Equal(baselineTotal + n, ProcFd.Count(daemon.Pid));
        AssertLsofAgrees(daemon.Pid, busy);

        clients.ForEach(c => c.Dispose());
        Wait.Until(() => ProcFd.CountTcpSockets(daemon.Pid) == idle.Listeners.Length, "only the listeners are left in /proc/PID/fd");
        DaemonFdReport after = DaemonFdReport.Request(daemon);
        Assert.Equal(idle.OwnTotal, after.OwnTotal);
        Assert.Equal(baselineTotal, ProcFd.Count(daemon.Pid));
    }

    [Theory]
    [MemberData(nameof(Reactors))]
    public void TenThousandConnectCloseCycles_LeaveNoFdBehind(string reactors)
    {
        using var daemon = DaemonProcess.Start($"--address 127.0.0.1 --port 0 {reactors}");
        int listeners = DaemonFdReport.Request(daemon).Listeners.Length;
        using (var warm = TestClient.Connect(daemon.Port))
            Assert.True(warm.EchoesProbe([1]));
        Wait.Until(() => ProcFd.CountTcpSockets(daemon.Pid) == listeners, "the warm-up connection is closed");
        int baselineTotal = ProcFd.Count(daemon.Pid);

        // Four clients in parallel, 2,500 cycles each; every tenth cycle also proves the connection was served.
        Parallel.For(0, 4, worker =>
        {
            for (int i = 0; i < 2_500; i++)
            {
                using var client = TestClient.Connect(daemon.Port);
                if (i % 10 == 0)
                    Assert.True(client.EchoesProbe([(byte)worker, (byte)i]));
            }
        });

        Wait.Until(() => ProcFd.CountTcpSockets(daemon.Pid) == listeners, "all 10,000 connections are closed", 30_000);
        DaemonFdReport after = DaemonFdReport.Request(daemon);
        Assert.Equal(0, after.Connections);
        Assert.Equal(baselineTotal, ProcFd.Count(daemon.Pid));
    }

    // Every fd the server names exists in /proc with the kind its role implies; the TCP sockets are exactly its own.
    private static void AssertReportMatchesProc(int pid, DaemonFdReport report)
    {
        var table = ProcFd.List(pid).ToDictionary(e => e.Fd);
        HashSet<long> tcp = ProcFd.TcpSocketInodes(pid);
        Assert.All(report.Pollers, fd => Assert.Equal("anon_inode:[eventpoll]", table[fd].Target));
        Assert.All(report.Wakers, fd => Assert.Equal("anon_inode:[eventfd]", table[fd].Target));
        Assert.Equal("/dev/null", table[report.Spare].Target);
        foreach (int fd in report.Listeners)
            Assert.Contains(table[fd].SocketInode, tcp);
        // The fds reserved for the runtime's shutdown path are /dev/null, listed right after the spare.
        int[] reserved = report.ListedFds.SkipWhile(fd => fd != report.Spare).Skip(1).Take(report.Reserved).ToArray();
        Assert.Equal(report.Reserved, reserved.Length);
        Assert.All(reserved, fd => Assert.Equal("/dev/null", table[fd].Target));
        foreach (int fd in report.ListedFds.Except(report.Listeners).Except(report.Pollers).Except(report.Wakers).Except([report.Spare]).Except(reserved))
            Assert.True(table.TryGetValue(fd, out var entry) && tcp.Contains(entry.SocketInode), $"fd {fd} is not a TCP socket in /proc");
        int tcpInProc = table.Values.Count(e => e.IsSocket && tcp.Contains(e.SocketInode));
        Assert.Equal(report.Listeners.Length + report.Connections, tcpInProc);
    }

    // lsof's view: one TCP line per listener and connection, one eventpoll and one eventfd anon inode at our fds.
    private static void AssertLsofAgrees(int pid, DaemonFdReport report)
    {
        string output = RunLsof(pid);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int tcpLines = lines.Count(l => l.Contains(" TCP ", StringComparison.Ordinal));
        Assert.Equal(report.Listeners.Length + report.Connections, tcpLines);
        foreach (int poller in report.Pollers)
            Assert.Contains(lines, l => l.Contains($" {poller}u ", StringComparison.Ordinal) && l.Contains("eventpoll", StringComparison.Ordinal));
        foreach (int waker in report.Wakers)
            Assert.Contains(lines, l => l.Contains($" {waker}u ", StringComparison.Ordinal) && l.Contains("eventfd", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(" TCP ", StringComparison.Ordinal) && l.Contains("(LISTEN)", StringComparison.Ordinal));
        Assert.Equal(report.Connections, lines.Count(l => l.Contains("(ESTABLISHED)", StringComparison.Ordinal)));
    }

    private static string RunLsof(int pid)
    {
        var start = new ProcessStartInfo("lsof", $"-nP -p {pid}") { RedirectStandardOutput = true, RedirectStandardError = true };
        try
        {
            using var lsof = Process.Start(start)!;
            string output = lsof.StandardOutput.ReadToEnd();
            Assert.True(lsof.WaitForExit(30_000), "lsof did not finish in 30 s");
            return output;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Fail("lsof is needed to compare the fd report with `lsof -p` (apt-get install lsof; .ci/run installs it)");
            throw;
        }
    }
}
