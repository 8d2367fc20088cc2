// The bench's HTTP cases: wrk driven through WrkRun against `--protocol http` (what wrk counted agrees with what
// the server answered; wrk's percentiles survive into the report's histogram), and a peer that is given its port
// (nginx's way) found by the listener it holds, never by another program that holds the port.
using System.Net;
using System.Net.Sockets;
using EpollServer.Diagnostics;
using EpollServer.LoadTests.Bench;
using EpollServer.LoadTests.Engine;
using EpollServer.Protocols.Http;
using EpollServer.Tests.Infrastructure;
using HdrHistogram;

namespace EpollServer.Tests;

[Collection(LoadCollection.Name)]
public sealed class WrkBenchTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    public void WrkRun_CountsWhatTheServerAnswered_AndKeepsWrksPercentiles(int depth)
    {
        using var server = new TestServer(handlers: () => new BenchmarkHttpHandler());
        var plan = new LoadPlan
        {
            Target = new IPEndPoint(IPAddress.Loopback, server.Port),
            Connections = 8,
            Depth = depth,
            Warmup = TimeSpan.Zero,
            Duration = TimeSpan.FromSeconds(1),
            ServerPid = Environment.ProcessId,
        };
        RunResult result = new WrkRun(plan, "/plaintext").Execute("plaintext", "in-process");

        Assert.True(result.Passed, $"errors: {result.ErrorSummary()}; checks: {string.Join("; ", result.Checks)}");
        Assert.True(result.Stats.Completed > 100, $"{result.Stats.Completed} requests");
        // wrk stops with requests still in flight: the server may have answered up to a window more than wrk counted.
        long answered = server.Server.Read(Counter.Messages);
        Assert.InRange(answered - result.Stats.Completed, 0, plan.Connections * depth);
        Assert.NotNull(result.ServerCpu);
        long p50 = result.Stats.Latency.GetValueAtPercentile(50), p99 = result.Stats.Latency.GetValueAtPercentile(99);
        Assert.True(p50 > 0 && p50 <= p99 && p99 <= result.Stats.Latency.GetMaxValue(), $"p50 {p50} p99 {p99}");
    }

    [Fact]
    public void APeerGivenItsPort_IsFoundByItsListener_AndNotByAnotherProgramOnThatPort()
    {
        // The daemon stands in for nginx: told its port, silent about it.
        var given = new Peer("given-port", "epollserver told its port", null,
            (_, run) => ["dotnet", DaemonProcess.DaemonDll, "--address", "127.0.0.1", "--port", run.Port.ToString()]) { ReportsItsPort = false };
        using var held = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        held.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        held.Listen();
        int taken = ((IPEndPoint)held.LocalEndPoint!).Port;

        var refused = Assert.Throws<InvalidOperationException>(() => PeerProcess.StartOn(given, new PeerFiles(), "echo", null, null, taken));
        Assert.Contains("did not start listening", refused.Message);

        using PeerProcess started = PeerProcess.Start(given, new PeerFiles(), "echo", null);
        Assert.NotEqual(taken, started.Port);
        using var client = new TcpClient();
        client.Connect(started.EndPoint);
        client.GetStream().Write("ping\n"u8);
        byte[] reply = new byte[5];
        client.GetStream().ReadExactly(reply);
        Assert.Equal("ping\n"u8.ToArray(), reply);
        Assert.Equal(0, started.Stop());
    }
}
