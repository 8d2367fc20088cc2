// Every counter is defined once (ServerCounters.Definitions) and must reach all three places people read it: the
// stats line, the snapshot `epollserver stats` reads, and the EpollServer meter; the protocol's own counters too.
using System.Text.Json;
using System.Text.RegularExpressions;
using EpollServer.Buffers;
using EpollServer.Diagnostics;
using EpollServer.Net;
using EpollServer.Protocols;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class CounterTests
{
    // Echo, but a byte 'A' aborts the connection: an abort with a reason, which only a handler can cause.
    private sealed class AbortsOnA : IProtocolHandler
    {
        public string Name => "aborts-on-a";

        public IEnumerable<KeyValuePair<string, long>> Counters => [new("probe-counter", 42)];

        public int OnData(Connection connection, ReadableBytes data)
        {
            if (data.IndexOf((byte)'A') >= 0)
            {
                connection.Abort("test-reason");
                return data.Length;
            }
            return connection.Write(data) ? data.Length : 0;
        }
    }

    // What the scenario below must leave in each counter, by snapshot key: one client connected, had "abc" echoed and
    // was aborted by its 'A' (4 bytes in, 3 out, one accept, one close, one abort, nothing else). Null: a figure the
    // scenario does not fix (the loop's wake-ups and its EAGAINs depend on scheduling); those are checked for
    // agreement between the stats line and the meter only. A counter added without a row here fails the test.
    private static readonly Dictionary<string, long?> Expected = new()
    {
        ["connections-open"] = 0, ["connections-accepted"] = 1, ["connections-closed"] = 1, ["connections-rejected"] = 0,
        ["connections-rejected-nofd"] = 0, ["connections-rejected-per-address"] = 0, ["connections-resets"] = 0,
        ["connections-aborted"] = 1, ["connections-handler-errors"] = 0, ["connections-peer-errors"] = 0,
        ["outgoing-started"] = 0, ["outgoing-connected"] = 0, ["outgoing-failed"] = 0, ["outgoing-timed-out"] = 0, ["outgoing-no-fds"] = 0,
        ["timeouts-idle"] = 0, ["timeouts-first-byte"] = 0, ["timeouts-request"] = 0,
        ["bytes-in"] = 4, ["bytes-out"] = 3, ["bytes-discarded"] = 0, ["messages"] = 0,
        ["loop-send-eagain"] = 0, ["loop-recv-eagain"] = null, ["loop-read-pauses"] = 0, ["loop-accept-backoffs"] = 0,
        ["loop-iterations"] = null, ["loop-dispatch-failures"] = 0,
        ["udp-in"] = 0, ["udp-out"] = 0, ["udp-truncated"] = 0, ["udp-dropped"] = 0, ["udp-errors"] = 0,
    };

    // The meter's series for the same scenario, by instrument and every tag, typed in: the OpenTelemetry names a
    // dashboard queries. The aborted instrument is by reason; connections.open and the process's fds are gauges.
    private static readonly Dictionary<string, long?> ExpectedMeter = new()
    {
        ["epollserver.connections.open"] = 0, ["epollserver.connections.accepted"] = 1, ["epollserver.connections.closed"] = 1,
        ["epollserver.connections.rejected|reason=max-connections"] = 0, ["epollserver.connections.rejected|reason=no-fds"] = 0,
        ["epollserver.connections.rejected|reason=max-connections-per-address"] = 0, ["epollserver.connections.reset"] = 0,
        ["epollserver.connections.aborted|reason=test-reason"] = 1, ["epollserver.errors.handler"] = 0, ["epollserver.errors.peer"] = 0,
        ["epollserver.connections.outgoing|outcome=started"] = 0, ["epollserver.connections.outgoing|outcome=connected"] = 0,
        ["epollserver.connections.outgoing|outcome=failed"] = 0, ["epollserver.connections.outgoing|outcome=timed-out"] = 0,
        ["epollserver.connections.outgoing|outcome=no-fds"] = 0,
        ["epollserver.connections.timeouts|timeout=idle"] = 0, ["epollserver.connections.timeouts|timeout=first-byte"] = 0,
        ["epollserver.connections.timeouts|timeout=request"] = 0,
        ["epollserver.bytes.received"] = 4, ["epollserver.bytes.sent"] = 3, ["epollserver.bytes.discarded"] = 0, ["epollserver.messages"] = 0,
        ["epollserver.eagain|call=send"] = 0, ["epollserver.eagain|call=recv"] = null, ["epollserver.backpressure.pauses"] = 0,
        ["epollserver.listener.backoffs"] = 0, ["epollserver.loop.iterations"] = null, ["epollserver.loop.dispatch_failures"] = 0,
        ["epollserver.datagrams|outcome=received"] = 0, ["epollserver.datagrams|outcome=sent"] = 0,
        ["epollserver.datagrams|outcome=truncated"] = 0, ["epollserver.datagrams|outcome=dropped"] = 0,
        ["epollserver.datagrams|outcome=error"] = 0,
        ["epollserver.protocol.counters|counter=probe-counter"] = 42,
        ["epollserver.reactor.connections|reactor=0"] = 0, ["epollserver.reactor.iterations|reactor=0"] = null,
        ["epollserver.reactor.bytes|direction=received,reactor=0"] = 4, ["epollserver.reactor.bytes|direction=sent,reactor=0"] = 3,
        ["epollserver.reactor.eagain|call=recv,reactor=0"] = null, ["epollserver.reactor.eagain|call=send,reactor=0"] = 0,
        ["epollserver.fds.open|source=server"] = null, ["epollserver.fds.open|source=process"] = null,
    };

    [Fact]
    public void EveryCounter_IsOnTheStatsLine_AndInTheMeter_WithItsValue()
    {
        using var server = new TestServer(new AbortsOnA());
        using (var client = TestClient.Connect(server.Port))
        {
            Assert.True(client.EchoesProbe("abc"u8.ToArray()));
            client.Send("A"u8);
            Assert.Throws<System.Net.Sockets.SocketException>(() => client.ReceiveToEnd());   // reset
        }
        server.WaitUntil(s => s.Stats[Counter.ConnectionsAborted] == 1 && s.OpenConnections == 0, "the abort counted");
        string line = server.Server.Stats.ToString();
        Dictionary<string, long> meter = MeterReading.Collect(server.Server.Meter!);
        Assert.Equal(Expected.Keys.Order(), ServerCounters.Definitions.Select(d => d.Key).Order());
        Dictionary<string, long> onLine = ParseStatsLine(line);
        Assert.Equal(Expected.Keys.Order(), onLine.Keys.Order());
        foreach ((string key, long? expected) in Expected)
        {
            if (expected is not null)
                Assert.True(expected == onLine[key], $"{key}: the stats line says {onLine[key]}, expected {expected}: {line}");
        }
        Assert.Contains("aborted=1 (test-reason=1)", line);
        Assert.Equal(ExpectedMeter.Keys.Order(StringComparer.Ordinal), meter.Keys.Order(StringComparer.Ordinal));
        foreach ((string series, long? expected) in ExpectedMeter)
        {
            if (expected is not null)
                Assert.True(expected == meter[series], $"the meter's {series} is {meter[series]}, expected {expected}");
        }
    }

    // "connections open=0 accepted=1 ... aborted=1 (test-reason=1) ... | messages=0 | loop ..." -> snapshot key -> value,
    // read by its own grammar: groups split at " | ", the group's name first, "name=" alone where the two are one.
    private static Dictionary<string, long> ParseStatsLine(string line)
    {
        var values = new Dictionary<string, long>();
        foreach (string group in line.Split(" | "))
        {
            string[] words = group.Split(' ');
            if (words[0].Split('=') is [string alone, string value])
            {
                values.Add(alone, long.Parse(value));
                continue;
            }
            foreach (Match pair in Regex.Matches(group, @"(?<= )([a-z-]+)=(\d+)"))
                values.Add($"{words[0]}-{pair.Groups[1].Value}", long.Parse(pair.Groups[2].Value));
        }
        return values;
    }

    [Fact]
    public void EveryCounter_IsInTheSnapshotThatStatsReads_AndTheProtocolsOwnToo()
    {
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0 --protocol line");
        using (var client = TestClient.Connect(daemon.Port))
        {
            client.Send("one\n");
            Assert.Equal("one", client.ReadLine());
        }
        using var stats = DaemonProcess.Start($"stats --json --pid {daemon.Pid}", expectListening: false);
        Assert.Equal(0, stats.WaitForExit());
        using JsonDocument json = JsonDocument.Parse(string.Join('\n', stats.Lines));
        JsonElement counters = json.RootElement.GetProperty("counters");
        foreach (CounterDefinition counter in ServerCounters.Definitions)
            Assert.True(counters.TryGetProperty(counter.Key, out _), $"the snapshot lacks {counter.Key}");
        Assert.Equal(ServerCounters.Definitions.Count, counters.EnumerateObject().Count());
        Assert.Equal(4, counters.GetProperty("bytes-in").GetInt64());
        Assert.Equal(0, json.RootElement.GetProperty("handler-counters").GetProperty("lines-too-long").GetInt64());
    }
}
