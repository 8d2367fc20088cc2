// What the server counts, defined once. Each Counter has one row in ServerCounters.Definitions, and the stats line,
// the snapshot `epollserver stats` reads and the EpollServer meter are all derived from those rows: a counter added
// here shows up in all three, and CounterTests fails if one does not. Written only by the loop thread that owns the
// counters (plain increments, one writer); read from any thread.
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace EpollServer.Diagnostics;

public enum Counter
{
    ConnectionsOpen,               // gauge: filled in by the snapshot
    ConnectionsAccepted,
    ConnectionsClosed,
    ConnectionsRejectedLimit,      // over --max-connections: refused with a line
    ConnectionsRejectedNoFds,      // EMFILE/ENFILE: accepted on the spare fd and closed at once
    ConnectionsRejectedPerAddress, // over --max-connections-per-address: refused with a line
    ConnectionsReset,
    ConnectionsAborted,            // a handler's Abort(reason); by reason in ServerCounters.AbortsByReason
    HandlerErrors,
    PeerErrors,                    // protocol errors by peers (answered with an ERR line where the protocol has one)
    ConnectsStarted,               // outgoing connections (LoopContext.Connect)
    ConnectsSucceeded,
    ConnectFailures,
    ConnectTimeouts,
    ConnectsNoFds,                 // socket(2) for an outgoing connection failed with EMFILE/ENFILE (also counted as failed)
    IdleTimeouts,
    FirstByteTimeouts,
    RequestTimeouts,
    BytesReceived,
    BytesSent,
    BytesDiscarded,                // read during a lingering close and dropped
    Messages,                      // gauge: the handler's count (lines; for echo, chunks echoed)
    SendWouldBlock,                // send returned EAGAIN: the peer reads slower than we write
    RecvWouldBlock,                // recv returned EAGAIN: woken for nothing
    ReadPauses,                    // backpressure engaged (a full output, or a handler that paused reading)
    AcceptBackoffs,                // the listener rested after running out of fds
    LoopIterations,                // gauge: the loop's wake-ups
    DispatchFailures,              // gauge: dispatch targets that threw and were closed
    DatagramsReceived,             // the datagram form (--udp)
    DatagramsSent,
    DatagramsTruncated,            // longer than the datagram buffer: counted, not handled
    DatagramsDropped,              // sendto failed (socket buffer full): UDP may drop, so it does
    DatagramErrors,                // recvfrom failed with something other than EAGAIN
}

// One counter's names: `Group Name=` on the stats line, Key in the snapshot, Instrument (with its tag, where several
// counters share one instrument) in the meter.
public sealed record CounterDefinition(Counter Id, string Group, string Name, string Instrument, string Unit, string Description,
    string? TagKey = null, string? TagValue = null, bool Gauge = false)
{
    public string Key => Group == Name ? Name : $"{Group}-{Name}";
}

public sealed class ServerCounters
{
    public static readonly IReadOnlyList<CounterDefinition> Definitions =
    [
        new(Counter.ConnectionsOpen, "connections", "open", "epollserver.connections.open", "{connection}", "connections open now", Gauge: true),
        new(Counter.ConnectionsAccepted, "connections", "accepted", "epollserver.connections.accepted", "{connection}", "connections accepted"),
        new(Counter.ConnectionsClosed, "connections", "closed", "epollserver.connections.closed", "{connection}", "connections closed, for any reason"),
        new(Counter.ConnectionsRejectedLimit, "connections", "rejected", "epollserver.connections.rejected", "{connection}",
            "connections refused at accept, by reason", "reason", "max-connections"),
        new(Counter.ConnectionsRejectedNoFds, "connections", "rejected-nofd", "epollserver.connections.rejected", "{connection}",
            "connections refused at accept, by reason", "reason", "no-fds"),
        new(Counter.ConnectionsRejectedPerAddress, "connections", "rejected-per-address", "epollserver.connections.rejected", "{connection}",
            "connections refused at accept, by reason", "reason", "max-connections-per-address"),
        new(Counter.ConnectionsReset, "connections", "resets", "epollserver.connections.reset", "{connection}", "connections the peer reset"),
        new(Counter.ConnectionsAborted, "connections", "aborted", "epollserver.connections.aborted", "{connection}",
            "connections a handler aborted (by reason on the stats line)"),
        new(Counter.HandlerErrors, "connections", "handler-errors", "epollserver.errors.handler", "{error}", "handler failures that closed a connection"),
        new(Counter.PeerErrors, "connections", "peer-errors", "epollserver.errors.peer", "{error}", "protocol errors by peers"),
        new(Counter.ConnectsStarted, "outgoing", "started", "epollserver.connections.outgoing", "{connection}",
            "outgoing connections, by outcome", "outcome", "started"),
        new(Counter.ConnectsSucceeded, "outgoing", "connected", "epollserver.connections.outgoing", "{connection}",
            "outgoing connections, by outcome", "outcome", "connected"),
        new(Counter.ConnectFailures, "outgoing", "failed", "epollserver.connections.outgoing", "{connection}",
            "outgoing connections, by outcome", "outcome", "failed"),
        new(Counter.ConnectTimeouts, "outgoing", "timed-out", "epollserver.connections.outgoing", "{connection}",
            "outgoing connections, by outcome", "outcome", "timed-out"),
        new(Counter.ConnectsNoFds, "outgoing", "no-fds", "epollserver.connections.outgoing", "{connection}",
            "outgoing connections, by outcome", "outcome", "no-fds"),
        new(Counter.IdleTimeouts, "timeouts", "idle", "epollserver.connections.timeouts", "{connection}",
            "connections closed by a timeout, by timeout", "timeout", "idle"),
        new(Counter.FirstByteTimeouts, "timeouts", "first-byte", "epollserver.connections.timeouts", "{connection}",
            "connections closed by a timeout, by timeout", "timeout", "first-byte"),
        new(Counter.RequestTimeouts, "timeouts", "request", "epollserver.connections.timeouts", "{connection}",
            "connections closed by a timeout, by timeout", "timeout", "request"),
        new(Counter.BytesReceived, "bytes", "in", "epollserver.bytes.received", "By", "bytes read from connections"),
        new(Counter.BytesSent, "bytes", "out", "epollserver.bytes.sent", "By", "bytes written to connections"),
        new(Counter.BytesDiscarded, "bytes", "discarded", "epollserver.bytes.discarded", "By", "bytes read during a lingering close and dropped"),
        new(Counter.Messages, "messages", "messages", "epollserver.messages", "{message}",
            "messages the protocol handled (lines; for echo, chunks echoed)", Gauge: true),
        new(Counter.SendWouldBlock, "loop", "send-eagain", "epollserver.eagain", "{call}", "recv and send calls that returned EAGAIN", "call", "send"),
        new(Counter.RecvWouldBlock, "loop", "recv-eagain", "epollserver.eagain", "{call}", "recv and send calls that returned EAGAIN", "call", "recv"),
        new(Counter.ReadPauses, "loop", "read-pauses", "epollserver.backpressure.pauses", "{pause}",
            "times a connection stopped reading for backpressure"),
        new(Counter.AcceptBackoffs, "loop", "accept-backoffs", "epollserver.listener.backoffs", "{backoff}",
            "times the listener rested after running out of fds"),
        new(Counter.LoopIterations, "loop", "iterations", "epollserver.loop.iterations", "{iteration}", "event loop wake-ups", Gauge: true),
        new(Counter.DispatchFailures, "loop", "dispatch-failures", "epollserver.loop.dispatch_failures", "{failure}",
            "dispatch targets that threw and were closed", Gauge: true),
        new(Counter.DatagramsReceived, "udp", "in", "epollserver.datagrams", "{datagram}", "datagrams, by outcome", "outcome", "received"),
        new(Counter.DatagramsSent, "udp", "out", "epollserver.datagrams", "{datagram}", "datagrams, by outcome", "outcome", "sent"),
        new(Counter.DatagramsTruncated, "udp", "truncated", "epollserver.datagrams", "{datagram}", "datagrams, by outcome", "outcome", "truncated"),
        new(Counter.DatagramsDropped, "udp", "dropped", "epollserver.datagrams", "{datagram}", "datagrams, by outcome", "outcome", "dropped"),
        new(Counter.DatagramErrors, "udp", "errors", "epollserver.datagrams", "{datagram}", "datagrams, by outcome", "outcome", "error"),
    ];

    private readonly long[] _values = new long[Definitions.Count];

    // Aborts by the reason handlers give (Connection.Abort); the total is Counter.ConnectionsAborted.
    private readonly ConcurrentDictionary<string, long> _abortsByReason = new(StringComparer.Ordinal);

    // The loop thread's increments: `counters[Counter.BytesSent] += n`.
    internal ref long this[Counter id] => ref _values[(int)id];

    internal void CountClose(Net.CloseReason reason)
    {
        switch (reason)
        {
            case Net.CloseReason.Reset: this[Counter.ConnectionsReset]++; break;
            case Net.CloseReason.IdleTimeout: this[Counter.IdleTimeouts]++; break;
            case Net.CloseReason.FirstByteTimeout: this[Counter.FirstByteTimeouts]++; break;
            case Net.CloseReason.RequestTimeout: this[Counter.RequestTimeouts]++; break;
            case Net.CloseReason.ConnectFailed: this[Counter.ConnectFailures]++; break;
            case Net.CloseReason.ConnectTimeout: this[Counter.ConnectTimeouts]++; break;
        }
    }

    internal void CountAbort(string reason)
    {
        this[Counter.ConnectionsAborted]++;
        _abortsByReason.AddOrUpdate(reason, 1, (_, n) => n + 1);
    }

    // gauges: the values the snapshot fills in from their owners (open connections, messages, loop figures).
    public ServerStats Snapshot(params ReadOnlySpan<(Counter Id, long Value)> gauges)
    {
        var values = new long[_values.Length];
        for (int i = 0; i < values.Length; i++)
            values[i] = Volatile.Read(ref _values[i]);
        foreach ((Counter id, long value) in gauges)
            values[(int)id] = value;
        return new ServerStats(values, _abortsByReason.OrderBy(a => a.Key, StringComparer.Ordinal).ToArray());
    }
}

// A snapshot of the counters: by Counter, by snapshot key, and as the stats line.
public sealed class ServerStats(long[] values, KeyValuePair<string, long>[] abortsByReason)
{
    // Several reactors' snapshots as one: every counter and gauge summed, aborts summed by reason.
    public static ServerStats Sum(IEnumerable<ServerStats> parts)
    {
        var values = new long[ServerCounters.Definitions.Count];
        var aborts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (ServerStats part in parts)
        {
            for (int i = 0; i < values.Length; i++)
                values[i] += part[(Counter)i];
            foreach ((string reason, long count) in part.AbortsByReason)
                aborts[reason] = aborts.GetValueOrDefault(reason) + count;
        }
        return new ServerStats(values, [.. aborts]);
    }

    public long this[Counter id] => values[(int)id];

    public IReadOnlyList<KeyValuePair<string, long>> AbortsByReason => abortsByReason;

    // Key -> value for every counter, in definition order: what the stats snapshot holds.
    public Dictionary<string, long> ToDictionary() =>
        ServerCounters.Definitions.ToDictionary(d => d.Key, d => values[(int)d.Id]);

    public override string ToString() => Format(ToDictionary(), abortsByReason);

    // "connections open=2 accepted=2 ... | timeouts idle=0 ... | bytes in=1000 out=1000 ...": one group per
    // definition group, in order; from a snapshot's dictionary too, so `epollserver stats` prints the same line.
    public static string Format(IReadOnlyDictionary<string, long> byKey, IReadOnlyList<KeyValuePair<string, long>> abortsByReason)
    {
        var line = new StringBuilder();
        string? group = null;
        foreach (CounterDefinition definition in ServerCounters.Definitions)
        {
            if (definition.Group != group)
            {
                line.Append(group is null ? "" : " | ").Append(definition.Group);
                group = definition.Group;
            }
            if (definition.Group != definition.Name)
                line.Append(' ').Append(definition.Name).Append('=');
            else
                line.Append('=');
            line.Append(byKey.TryGetValue(definition.Key, out long value) ? value.ToString(CultureInfo.InvariantCulture) : "?");
            if (definition.Id == Counter.ConnectionsAborted && abortsByReason.Count > 0)
                line.Append(" (").AppendJoin(' ', abortsByReason.Select(a => $"{a.Key}={a.Value}")).Append(')');
        }
        return line.ToString();
    }
}
