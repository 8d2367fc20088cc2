// A peer that never reads what it is owed: the graceful stop gives up at --shutdown-timeout and says how much was
// left unsent, and a second SIGTERM does not wait even that long.
using System.Diagnostics;
using System.Text.RegularExpressions;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class StopDeadlineTests
{
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void PeerThatNeverReads_StopEndsAtTheDeadline_WithTheUnsentBytesLogged(int reactors)
    {
        using var daemon = DaemonProcess.Start($"--address 127.0.0.1 --port 0 --shutdown-timeout 1 --reactors {reactors}");
        using var stubborn = FillServerOutput(daemon);
        var clock = Stopwatch.StartNew();
        daemon.Signal(DaemonProcess.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit());
        Assert.InRange(clock.ElapsedMilliseconds, 900, 10_000);
        string line = daemon.WaitForLine(new Regex(@"drain deadline reached: closing 1 connections with (\d+) bytes unsent"));
        Assert.True(long.Parse(new Regex(@"with (\d+) bytes").Match(line).Groups[1].Value) > 0);
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void SecondSigterm_ExitsAtOnceWith143(int reactors)
    {
        using var daemon = DaemonProcess.Start($"--address 127.0.0.1 --port 0 --shutdown-timeout 60 --reactors {reactors}");
        using var stubborn = FillServerOutput(daemon);
        daemon.Signal(DaemonProcess.SIGTERM);
        daemon.WaitForLine(new Regex("stopping: listener closed, draining 1 connections"));
        Assert.False(daemon.HasExited, "the first SIGTERM should wait for the stubborn peer");
        daemon.Signal(DaemonProcess.SIGTERM);
        Assert.Equal(143, daemon.WaitForExit(10_000));
        Assert.Contains(daemon.Lines, l => l.Contains("received again: exiting now", StringComparison.Ordinal));
    }

    [Fact]
    public void StatsInterval_LogsAStatsLinePeriodically()
    {
        // One reactor: its listener, poller, waker, the spare and the 16 reserved fds.
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0 --stats-interval 0.2 --reactors 1");
        daemon.WaitForLine(new Regex(@"stats: connections open=0 .*fds own=20 "), skip: 2);
    }

    // Sends 4 MiB and reads none of the echo: the server's output ring fills and its reading pauses.
    private static TestClient FillServerOutput(DaemonProcess daemon)
    {
        var client = TestClient.Connect(daemon.Port, receiveBuffer: 4096);
        client.Socket.SendTimeout = 1000;
        try
        {
            client.Send(Patterns.For(9, 4 * 1024 * 1024));
        }
        catch (System.Net.Sockets.SocketException)
        {
            // Blocked by backpressure: exactly the state wanted.
        }
        Wait.Until(() => DaemonFdReport.Request(daemon).Connections == 1, "the server holds the connection");
        return client;
    }
}
