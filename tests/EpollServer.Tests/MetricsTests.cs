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
        byte[] payload = Patterns.For(3, 4096);
        client.Send(payload);
        Assert.Equal(payload, client.ReceiveExactly(payload.Length));
        server.WaitUntil(s => s.Stats[Counter.BytesSent] == payload.Length, "the echo was counted");

        Dictionary<string, long> values = MeterReading.Collect(server.Server.Port);
        Assert.Equal(1, values["epollserver.connections.accepted"]);
        Assert.Equal(1, values["epollserver.connections.open"]);
        Assert.Equal(payload.Length, values["epollserver.bytes.received"]);
        Assert.Equal(payload.Length, values["epollserver.bytes.sent"]);
        Assert.Equal(server.Server.Handler.MessagesHandled, values["epollserver.messages"]);
        Assert.True(values["epollserver.messages"] >= 1);
        Assert.True(values["epollserver.loop.iterations"] >= 2);
        Assert.Equal(0, values["epollserver.connections.rejected|reason=max-connections"]);
        Assert.Equal(0, values["epollserver.eagain|call=send"]);
        // The server's own fd count without asking the loop equals the loop's exact list.
        Task<FdReport> report = server.Server.GetFdReportAsync();
        Assert.True(report.Wait(10_000), "the loop did not answer");
        FdReport exact = report.Result;
        Assert.Equal(exact.Total, values["epollserver.fds.open|source=server"]);
        Assert.True(values["epollserver.fds.open|source=process"] > exact.Total);

        client.Dispose();
        server.WaitUntil(s => s.OpenConnections == 0, "the close was seen");
        values = MeterReading.Collect(server.Server.Port);
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
