// The server's counters as System.Diagnostics.Metrics instruments (meter "EpollServer"), so dotnet-counters,
// dotnet-trace and OpenTelemetry read them without a line of our code in their way. Every instrument is observable:
// a listener's collection calls back on its own thread and reads the counters the loop keeps anyway, so the hot
// path pays nothing for metrics, and nothing at all while no listener is attached.
using System.Diagnostics.Metrics;

namespace EpollServer.Diagnostics;

internal sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "EpollServer";

    private readonly Meter _meter;

    public ServerMetrics(Server server)
    {
        // One meter per server, tagged with its port: two servers in one process are told apart, and each meter's
        // callbacks end with its Dispose.
        _meter = new Meter(new MeterOptions(MeterName)
        {
            Version = typeof(ServerMetrics).Assembly.GetName().Version?.ToString(),
            Tags = [new("epollserver.port", server.Port), new("epollserver.protocol", server.Handler.Name)],
        });
        ServerCounters c = server.Counters;
        Counter("epollserver.connections.accepted", "{connection}", "connections accepted", () => Volatile.Read(ref c.ConnectionsAccepted));
        Counter("epollserver.connections.closed", "{connection}", "connections closed, for any reason", () => Volatile.Read(ref c.ConnectionsClosed));
        _meter.CreateObservableCounter("epollserver.connections.rejected", () => new Measurement<long>[]
        {
            new(Volatile.Read(ref c.ConnectionsRejectedLimit), new KeyValuePair<string, object?>("reason", "max-connections")),
            new(Volatile.Read(ref c.ConnectionsRejectedPerAddress), new KeyValuePair<string, object?>("reason", "max-connections-per-address")),
            new(Volatile.Read(ref c.ConnectionsRejectedNoFds), new KeyValuePair<string, object?>("reason", "no-fds")),
        }, "{connection}", "connections refused at accept, by reason");
        Counter("epollserver.connections.reset", "{connection}", "connections the peer reset", () => Volatile.Read(ref c.ConnectionsReset));
        Counter("epollserver.connections.slow_consumer_disconnects", "{connection}", "peers dropped because their output stayed full",
            () => Volatile.Read(ref c.SlowConsumerDisconnects));
        _meter.CreateObservableCounter("epollserver.connections.timeouts", () => new Measurement<long>[]
        {
            new(Volatile.Read(ref c.IdleTimeouts), new KeyValuePair<string, object?>("timeout", "idle")),
            new(Volatile.Read(ref c.FirstByteTimeouts), new KeyValuePair<string, object?>("timeout", "first-byte")),
            new(Volatile.Read(ref c.RequestTimeouts), new KeyValuePair<string, object?>("timeout", "request")),
        }, "{connection}", "connections closed by a timeout, by timeout");
        _meter.CreateObservableUpDownCounter("epollserver.connections.open", () => server.OpenConnections, "{connection}", "connections open now");
        Counter("epollserver.bytes.received", "By", "bytes read from connections", () => Volatile.Read(ref c.BytesReceived));
        Counter("epollserver.bytes.sent", "By", "bytes written to connections", () => Volatile.Read(ref c.BytesSent));
        Counter("epollserver.messages", "{message}", "messages the protocol handled (lines; for echo, chunks echoed)", () => server.Handler.MessagesHandled);
        _meter.CreateObservableCounter("epollserver.eagain", () => new Measurement<long>[]
        {
            new(Volatile.Read(ref c.RecvWouldBlock), new KeyValuePair<string, object?>("call", "recv")),
            new(Volatile.Read(ref c.SendWouldBlock), new KeyValuePair<string, object?>("call", "send")),
        }, "{call}", "recv and send calls that returned EAGAIN");
        Counter("epollserver.backpressure.pauses", "{pause}", "times reading paused because a connection's output was 3/4 full",
            () => Volatile.Read(ref c.ReadPauses));
        Counter("epollserver.errors.peer", "{error}", "protocol errors by peers", () => Volatile.Read(ref c.PeerErrors));
        Counter("epollserver.errors.handler", "{error}", "handler failures that closed a connection", () => Volatile.Read(ref c.HandlerErrors));
        Counter("epollserver.loop.iterations", "{iteration}", "event loop wake-ups", () => server.LoopIterations);
        _meter.CreateObservableUpDownCounter("epollserver.fds.open", () => OpenFds(server), "{fd}",
            "fds open: the server's own count, and the whole process's from /proc/self/fd");
    }

    private void Counter(string name, string unit, string description, Func<long> read) =>
        _meter.CreateObservableCounter(name, read, unit, description);

    // Both figures side by side, as the stats line shows them: the gap is the runtime's own fds (stdio, its pipes).
    private static IEnumerable<Measurement<int>> OpenFds(Server server)
    {
        yield return new(server.OwnFdCount, new KeyValuePair<string, object?>("source", "server"));
        if (OperatingSystem.IsLinux())
            yield return new(ProcFd.Count(Environment.ProcessId), new KeyValuePair<string, object?>("source", "process"));
    }

    public void Dispose() => _meter.Dispose();
}
