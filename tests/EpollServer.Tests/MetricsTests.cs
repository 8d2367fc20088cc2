// The System.Diagnostics.Metrics instruments (meter "EpollServer") that dotnet-counters, dotnet-trace and
// OpenTelemetry read: a MeterListener, as those tools attach, must see the server's real figures.
using EpollServer.Diagnostics;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class MetricsTests
{
    [Fact]
    public void Instruments_ReportWhatTheServerDid()
    {
        using var server = new TestServer();
        using var client = TestClient.Connect(server.Port);
        // Three round trips of 1000 bytes, each awaited: three chunks echoed (one loopback segment, one recv each).
        for (int i = 0; i < 3; i++)
        {
            byte[] payload = Patterns.For(3 + i, 1000);
            client.Send(payload);
            Assert.Equal(payload, client.ReceiveExactly(payload.Length));
        }
        server.WaitUntil(s => s.Stats[Counter.BytesSent] == 3000, "the echoes were counted");

        Dictionary<string, long> values = MeterReading.Collect(server.Server.Meter!);
        Assert.Equal(1, values["epollserver.connections.accepted"]);
        Assert.Equal(1, values["epollserver.connections.open"]);
        Assert.Equal(3000, values["epollserver.bytes.received"]);
        Assert.Equal(3000, values["epollserver.bytes.sent"]);
        Assert.Equal(3, values["epollserver.messages"]);
        Assert.True(values["epollserver.loop.iterations"] >= 4, "an accept and three reads are four wake-ups at least");
        Assert.Equal(0, values["epollserver.connections.rejected|reason=max-connections"]);
        Assert.Equal(0, values["epollserver.eagain|call=send"]);
        Assert.Equal(3000, values["epollserver.reactor.bytes|direction=sent,reactor=0"]);
        Assert.Equal(1, values["epollserver.reactor.connections|reactor=0"]);
        // One reactor on epoll with one client: the listener, the epoll fd, its eventfd waker, the spare, the 16
        // reserved for the runtime (native-notes/limits.md) and the connection: 21.
        Assert.Equal(21, values["epollserver.fds.open|source=server"]);
        Task<FdReport> report = server.Server.GetFdReportAsync();
        Assert.True(report.Wait(10_000), "the loop did not answer");
        Assert.Equal(21, report.Result.Total);
        Assert.True(values["epollserver.fds.open|source=process"] > 21);

        client.Dispose();
        server.WaitUntil(s => s.OpenConnections == 0, "the close was seen");
        values = MeterReading.Collect(server.Server.Meter!);
        Assert.Equal(0, values["epollserver.connections.open"]);
        Assert.Equal(1, values["epollserver.connections.closed"]);
    }

    [Fact]
    public void DisposedServer_PublishesNothing()
    {
        var server = new Server(new ServerOptions { Address = "127.0.0.1", Port = 0, Reactors = "1" }, new Protocols.EchoHandler());
        server.Start();
        System.Diagnostics.Metrics.Meter meter = server.Meter!;
        Assert.NotEmpty(MeterReading.Collect(meter, requireAny: false));
        server.Dispose();
        Assert.Empty(MeterReading.Collect(meter, requireAny: false));   // by the meter: the port may already be another server's
    }
}
