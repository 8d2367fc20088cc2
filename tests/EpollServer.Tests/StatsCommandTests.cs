// `epollserver stats`: another process asks a running daemon for its counters and fds and prints them beside its
// own reading of /proc/PID/fd; the figures must be the daemon's real ones.
using System.Text.Json;
using System.Text.RegularExpressions;
using EpollServer.Host;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed partial class StatsCommandTests
{
    // The timeouts are off: starting the stats command can take seconds on a busy machine, and the silent client must
    // still be there when it asks.
    [Fact]
    public void Stats_PrintsTheDaemonsCounters_AndItsFdsBesideProc()
    {
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0 --first-byte-timeout 0 --idle-timeout 0");
        using var a = TestClient.Connect(daemon.Port);
        using var b = TestClient.Connect(daemon.Port);
        byte[] payload = Patterns.For(7, 1000);
        a.Send(payload);
        Assert.Equal(payload, a.ReceiveExactly(payload.Length));

        using var stats = DaemonProcess.Start($"stats --pid {daemon.Pid}", expectListening: false);
        Assert.Equal(0, stats.WaitForExit());
        string output = stats.Output;
        Assert.Contains($"epollserver pid {daemon.Pid}: echo on 127.0.0.1:{daemon.Port}, poller epoll", output);
        Assert.Contains("connections open=2 accepted=2", output);
        Assert.Contains("bytes in=1000 out=1000", output);
        // The daemon's own count is what the stats line it logged for the same signal says, and /proc holds at least
        // that many.
        DaemonFdReport own = DaemonFdReport.Parse(daemon.WaitForLine(DaemonFdReport.StatsLine()));
        Match fds = OwnFds().Match(output);
        Assert.True(fds.Success, output);
        Assert.Equal(own.OwnTotal, int.Parse(fds.Groups["own"].Value));
        Assert.Equal(2, int.Parse(fds.Groups["connections"].Value));
        int procNow = int.Parse(ProcNow().Match(output).Groups["total"].Value);
        Assert.True(procNow >= own.OwnTotal, output);
        Assert.Contains("3 TCP sockets", output);   // the listener and two connections
    }

    [Fact]
    public void Json_IsTheDaemonsSnapshot()
    {
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0 --protocol line");
        using (var client = TestClient.Connect(daemon.Port))
        {
            client.Send("one\ntwo\n");
            Assert.Equal("one", client.ReadLine());
            Assert.Equal("two", client.ReadLine());
        }
        using var stats = DaemonProcess.Start($"stats --json --pid {daemon.Pid}", expectListening: false);
        Assert.Equal(0, stats.WaitForExit());
        using JsonDocument json = JsonDocument.Parse(string.Join('\n', stats.Lines));
        JsonElement counters = json.RootElement.GetProperty("counters");
        Assert.Equal(2, counters.GetProperty("messages").GetInt64());
        Assert.Equal(8, counters.GetProperty("bytes-in").GetInt64());
        Assert.Equal("line", json.RootElement.GetProperty("protocol").GetString());
        Assert.Equal(daemon.Pid, json.RootElement.GetProperty("pid").GetInt32());
    }

    [Fact]
    public void NotADaemon_FailsWithinTheTimeout()
    {
        // A process that ignores SIGUSR1 (it would kill most others, the test runner included) and never answers.
        // An ignored signal stays ignored across exec, so sleep inherits the trap; "ready" says it is in place.
        using var other = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("bash", ["-c", "trap '' USR1; echo ready; exec sleep 20"])
        {
            RedirectStandardOutput = true,
        })!;
        try
        {
            Assert.True(other.StandardOutput.ReadLineAsync().Wait(10_000), "bash did not start");
            using var stats = DaemonProcess.Start($"stats --pid {other.Id} --timeout 0.5", expectListening: false);
            Assert.Equal(1, stats.WaitForExit());
            Assert.Contains("wrote no stats", stats.Output);
            Assert.False(other.HasExited);
        }
        finally
        {
            other.Kill();
        }
    }

    [Theory]
    [InlineData("/app/epollserver", true)]
    [InlineData("/app/epollserver --port 7007", true)]
    [InlineData("dotnet /x/epollserver.dll --protocol chat", true)]
    [InlineData("/app/epollserver health", false)]
    [InlineData("dotnet /x/epollserver.dll stats --pid 1", false)]
    [InlineData("/usr/bin/bash -c /app/epollserver", false)]
    [InlineData("dotnet test", false)]
    public void FindsServingDaemons_NotItsClients(string commandLine, bool serving) =>
        Assert.Equal(serving, StatsCommand.IsServingDaemon(commandLine.Split(' ')));

    [GeneratedRegex(@"fds: the server's own (?<own>\d+) \(.*connections (?<connections>\d+)\)")]
    private static partial Regex OwnFds();

    [GeneratedRegex(@"fds: /proc/\d+/fd now (?<total>\d+)")]
    private static partial Regex ProcNow();
}
