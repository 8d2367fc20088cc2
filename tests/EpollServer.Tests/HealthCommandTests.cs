// `epollserver health` (the container's HEALTHCHECK): exit 0 only when the server answers its question correctly in
// its own protocol; exit 1 when nothing listens, when the answer is wrong, and when a listener never answers.
using System.Net;
using System.Net.Sockets;
using EpollServer.Host.Clients;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class HealthCommandTests
{
    private static (int ExitCode, string Output) Health(string arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        using var health = DaemonProcess.Start("health " + arguments, expectListening: false, environment: environment);
        int exitCode = health.WaitForExit();
        return (exitCode, health.Output);
    }

    [Theory]
    [InlineData("echo", "")]
    [InlineData("line", "--greeting hello")]
    [InlineData("reverse", "")]
    [InlineData("chat", "")]
    public void AnsweringServer_IsHealthy(string protocol, string extra)
    {
        using var daemon = DaemonProcess.Start($"--address 127.0.0.1 --port 0 --protocol {protocol} {extra}");
        var (exitCode, output) = Health($"--port {daemon.Port} --protocol {protocol}");
        Assert.True(exitCode == 0, output);
        Assert.Contains($"healthy: {protocol} on 127.0.0.1:{daemon.Port} answered in", output);
    }

    [Fact]
    public void Defaults_ComeFromTheServersVariables()
    {
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0 --protocol reverse");
        var (exitCode, output) = Health("", new Dictionary<string, string>
        {
            ["EPOLLSERVER_PORT"] = daemon.Port.ToString(), ["EPOLLSERVER_PROTOCOL"] = "reverse", ["EPOLLSERVER_ADDRESS"] = "127.0.0.1",
        });
        Assert.True(exitCode == 0, output);
        Assert.Equal("127.0.0.1", HealthCommand.DefaultHost("::"));
        Assert.Equal("::1", HealthCommand.DefaultHost("::1"));
    }

    [Fact]
    public void WrongAnswer_IsUnhealthy()
    {
        // A reverse server asked an echo question answers, but not with the question.
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0 --protocol reverse");
        var (exitCode, output) = Health($"--port {daemon.Port} --protocol echo --timeout 1");
        Assert.Equal(1, exitCode);
        Assert.Contains("unhealthy: echo on", output);
    }

    [Fact]
    public void NothingListening_IsUnhealthy()
    {
        // Held bound, never listening, for the whole test: connect is refused, and no other program can take the port.
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        var (exitCode, output) = Health($"--port {port} --timeout 1");
        Assert.Equal(1, exitCode);
        Assert.Contains("ECONNREFUSED", output);
    }

    [Fact]
    public void ListenerThatNeverAnswers_IsUnhealthy_WithinTheTimeout()
    {
        // The kernel completes the handshake from the backlog; nobody ever reads: a hung loop looks exactly like this.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(8);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var (exitCode, output) = Health($"--port {port} --timeout 1");
        Assert.Equal(1, exitCode);
        Assert.Contains("no answer within 1 s", output);
    }
}
