// Every counter is defined once (ServerCounters.Definitions) and must reach all three places people read it: the
// stats line, the snapshot `epollserver stats` reads, and the EpollServer meter; the protocol's own counters too.
using System.Text.Json;
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
        server.WaitUntil(s => s.Stats[Counter.ConnectionsAborted] == 1, "the abort counted");
        ServerStats stats = server.Server.Stats;
        string line = stats.ToString();
        Dictionary<string, long> meter = MeterReading.Collect(server.Port);
        foreach (CounterDefinition counter in ServerCounters.Definitions)
        {
            long value = stats[counter.Id];
            string onLine = counter.Group == counter.Name ? $"{counter.Name}={value}" : $" {counter.Name}={value}";
            Assert.True(line.Contains(onLine, StringComparison.Ordinal), $"the stats line lacks '{onLine}': {line}");
            if (counter.Id == Counter.ConnectionsAborted)
                continue;   // by reason, below
            string instrument = counter.TagKey is null ? counter.Instrument : $"{counter.Instrument}|{counter.TagKey}={counter.TagValue}";
            Assert.True(meter.TryGetValue(instrument, out long measured), $"the meter lacks {instrument}");
            if (!counter.Gauge)
                Assert.Equal(value, measured);
        }
        Assert.Contains("aborted=1 (test-reason=1)", line);
        Assert.Equal(1, meter["epollserver.connections.aborted|reason=test-reason"]);
        Assert.Equal(42, meter["epollserver.protocol.counters|counter=probe-counter"]);
        Assert.Equal(4, stats[Counter.BytesReceived]);
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
