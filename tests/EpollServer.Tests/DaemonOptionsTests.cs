// The command line: bad options are refused with a clear message and exit code 2; help exits 0.
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class DaemonOptionsTests
{
    [Theory]
    [InlineData("--port 70000", "--port 70000 must be within 0..65535")]
    [InlineData("--port abc", "abc")]
    [InlineData("--protocol gopher", "--protocol 'gopher' is not known")]
    [InlineData("--input-buffer 1000", "--input-buffer 1000 must be a power of two")]
    [InlineData("--address not-an-ip", "--address 'not-an-ip' is not an IPv4 or IPv6 address")]
    [InlineData("--no-such-option", "--no-such-option")]
    [InlineData("--max-connections -1", "--max-connections -1")]
    [InlineData("--idle-timeout -1", "--idle-timeout -1 must be within 0 and 604800 seconds")]
    [InlineData("--request-timeout 1e300", "--request-timeout 1E+300 must be within 0 and 604800 seconds")]
    [InlineData("--max-connections-per-address -5", "--max-connections-per-address -5")]
    [InlineData("--busy-poll 2000000", "--busy-poll 2000000 must be within 0..1000000 microseconds")]
    [InlineData("--protocol line --max-line 0", "--max-line 0 must be at least 1")]
    [InlineData("--protocol line --max-line 16383", "--max-line 16383 must be within 1..16382")]
    [InlineData("--protocol chat --udp", "--udp: the chat protocol has no datagram form")]
    [InlineData("--protocol echo --upstream 127.0.0.1:1", "--upstream is for --protocol proxy, not echo")]
    [InlineData("--protocol proxy", "--protocol proxy needs --upstream HOST:PORT")]
    [InlineData("--protocol echo --proxy-client-first", "--proxy-client-first is for --protocol proxy, not echo")]
    [InlineData("--protocol proxy --upstream example:0", "--protocol proxy needs --upstream HOST:PORT (a port within 1..65535); got 'example:0'")]
    [InlineData("--connect-timeout -2", "--connect-timeout -2 must be within 0 and 604800 seconds")]
    [InlineData("--protocol reverse --max-line 20000", "--max-line 20000 must be within 1..16382")]
    [InlineData("--protocol chat --output-buffer 4096 --max-line 100", "--output-buffer must be at least 16384 bytes for chat")]
    [InlineData("--greeting 01234567890123456789012345678901234567890123456789012345678901234567890 --output-buffer 256", "--greeting is longer than")]
    public void BadOption_IsRefusedWithAMessageAndExitCode2(string arguments, string message)
    {
        using var daemon = DaemonProcess.Start(arguments, expectListening: false);
        Assert.Equal(2, daemon.WaitForExit());
        Assert.Contains(daemon.Lines, l => l.StartsWith("stderr: epollserver: ", StringComparison.Ordinal) && l.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void PollerKqueue_ServesWithLibkqueue_OrExits2SayingItIsMissing()
    {
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0 --poller kqueue", expectListening: false);
        if (Reactor.KqueuePoller.Unavailable is { } why)
        {
            Assert.Equal(2, daemon.WaitForExit());
            string line = Assert.Single(daemon.Lines, l => l.StartsWith("stderr: epollserver: --poller kqueue: ", StringComparison.Ordinal));
            Assert.Contains("libkqueue", line);
            Assert.Contains(why, line);
            return;
        }
        string listening = daemon.WaitForLine(new System.Text.RegularExpressions.Regex("listening on .* poller=kqueue"), 20_000);
        int port = int.Parse(System.Text.RegularExpressions.Regex.Match(listening, @":(\d+) ").Groups[1].Value);
        using var client = TestClient.Connect(port);
        Assert.True(client.EchoesProbe(Patterns.For(9, 100_000)));
    }

    [Fact]
    public void PortInUse_FailsWithTheErrnoAndExitCode1()
    {
        using var first = DaemonProcess.Start("--address 127.0.0.1 --port 0");
        using var second = DaemonProcess.Start($"--address 127.0.0.1 --port {first.Port}", expectListening: false);
        Assert.Equal(1, second.WaitForExit());
        Assert.Contains(second.Lines, l => l.Contains("EADDRINUSE", StringComparison.Ordinal));
    }

    [Fact]
    public void Help_ListsTheOptionsAndExitsZero()
    {
        using var daemon = DaemonProcess.Start("--help", expectListening: false);
        Assert.Equal(0, daemon.WaitForExit());
        foreach (string option in new[] { "--address", "--port", "--backlog", "--input-buffer", "--output-buffer", "--max-connections", "--shutdown-timeout" })
            Assert.Contains(daemon.Lines, l => l.Contains(option, StringComparison.Ordinal));
    }

    // The default port is read from what the daemon says its default is, not by binding it: 7007 may be taken on this
    // machine (another daemon, another test run), and binding it would then fail for a reason that is not the code's.
    [Fact]
    public void DefaultPort_Is7007()
    {
        using var help = DaemonProcess.Start("--help", expectListening: false);
        Assert.Equal(0, help.WaitForExit());
        Assert.Contains(help.Lines, l => l.Contains("--port <port>", StringComparison.Ordinal) && l.EndsWith("[default: 7007]", StringComparison.Ordinal));
    }

    // No --address: one socket on [::] with IPV6_V6ONLY off, so IPv4 and IPv6 clients both reach it (on port 0,
    // read back from the listening line).
    [Fact]
    public void DefaultAddress_IsAllInterfaces_DualStack()
    {
        using var daemon = DaemonProcess.Start("--port 0");
        Assert.Contains(daemon.Lines, l => l.Contains($"listening on [::]:{daemon.Port} (dual-stack IPv4+IPv6)", StringComparison.Ordinal));
        using var v4 = TestClient.Connect(daemon.Port, "127.0.0.1");
        using var v6 = TestClient.Connect(daemon.Port, "::1");
        Assert.True(v4.EchoesProbe([4]) && v6.EchoesProbe([6]));
        daemon.Signal(DaemonProcess.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit());
    }
}
