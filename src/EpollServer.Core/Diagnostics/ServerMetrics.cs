// The server's counters as System.Diagnostics.Metrics instruments (meter "EpollServer"), so dotnet-counters,
// dotnet-trace and OpenTelemetry read them without a line of our code in their way. The instruments are derived from
// ServerCounters.Definitions: one per instrument name, with a measurement per counter (tagged where several counters
// share it). Every instrument is observable: a listener's collection calls back on its own thread and reads the
// counters the loop keeps anyway, so the hot path pays nothing for metrics, and nothing at all while no listener is
// attached.
using System.Diagnostics.Metrics;

namespace EpollServer.Diagnostics;

internal sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "EpollServer";

    private readonly Meter _meter;

    public Meter Meter => _meter;

    public ServerMetrics(Server server)
    {
        // One meter per server, tagged with its port: two servers in one process are told apart, and each meter's
        // callbacks end with its Dispose.
        _meter = new Meter(new MeterOptions(MeterName)
        {
            Version = typeof(ServerMetrics).Assembly.GetName().Version?.ToString(),
            Tags = [new("epollserver.port", server.Port), new("epollserver.protocol", server.Handler.Name)],
        });
        foreach (IGrouping<string, CounterDefinition> instrument in ServerCounters.Definitions.GroupBy(d => d.Instrument))
            Create(server, [.. instrument]);
        _meter.CreateObservableUpDownCounter("epollserver.fds.open", () => OpenFds(server), "{fd}",
            "fds open: the server's own count, and the whole process's from /proc/self/fd");
        _meter.CreateObservableGauge("epollserver.protocol.counters", () => server.HandlerCounters.Select(c =>
            new Measurement<long>(c.Value, new KeyValuePair<string, object?>("counter", c.Key))), "{count}",
            "the protocol handler's own counters, by name");
        CreatePerReactor(server);
    }

    // A series per reactor, tagged `reactor` (the instruments above are the totals): how evenly the load is spread.
    private void CreatePerReactor(Server server)
    {
        _meter.CreateObservableUpDownCounter("epollserver.reactor.connections", () => PerReactor(server, Counter.ConnectionsOpen), "{connection}",
            "connections open on each reactor");
        _meter.CreateObservableCounter("epollserver.reactor.iterations", () => PerReactor(server, Counter.LoopIterations), "{iteration}",
            "each reactor's loop wake-ups");
        _meter.CreateObservableCounter("epollserver.reactor.bytes", () => PerReactor(server, Counter.BytesReceived, "direction", "received")
            .Concat(PerReactor(server, Counter.BytesSent, "direction", "sent")), "By", "bytes moved by each reactor");
        _meter.CreateObservableCounter("epollserver.reactor.eagain", () => PerReactor(server, Counter.RecvWouldBlock, "call", "recv")
            .Concat(PerReactor(server, Counter.SendWouldBlock, "call", "send")), "{call}", "each reactor's recv and send calls that returned EAGAIN");
    }

    private static IEnumerable<Measurement<long>> PerReactor(Server server, Counter counter, string? tagKey = null, string? tagValue = null) =>
        server.PerReactor.Select((stats, index) => tagKey is null
            ? new Measurement<long>(stats[counter], new KeyValuePair<string, object?>("reactor", index))
            : new Measurement<long>(stats[counter], new KeyValuePair<string, object?>("reactor", index), new KeyValuePair<string, object?>(tagKey, tagValue)));

    private void Create(Server server, CounterDefinition[] counters)
    {
        CounterDefinition first = counters[0];
        Func<IEnumerable<Measurement<long>>> observe = first.Id == Counter.ConnectionsAborted
            ? () => server.Stats.AbortsByReason.Select(a => new Measurement<long>(a.Value, new KeyValuePair<string, object?>("reason", a.Key)))
            : () => counters.Select(c => c.TagKey is null
                ? new Measurement<long>(server.Read(c.Id))
                : new Measurement<long>(server.Read(c.Id), new KeyValuePair<string, object?>(c.TagKey, c.TagValue)));
        if (first.Gauge)
            _meter.CreateObservableUpDownCounter(first.Instrument, observe, first.Unit, first.Description);
        else
            _meter.CreateObservableCounter(first.Instrument, observe, first.Unit, first.Description);
    }

    // Both figures side by side, as the stats line shows them: the gap is the runtime's own fds (stdio, its pipes).
    private static IEnumerable<Measurement<int>> OpenFds(Server server)
    {
        yield return new(server.OwnFdCount, new KeyValuePair<string, object?>("source", "server"));
        if (OperatingSystem.IsLinux())
            yield return new(ProcFd.Count(Environment.ProcessId), new KeyValuePair<string, object?>("source", "process"));
    }

    public void Dispose() => _meter.Dispose();
}
