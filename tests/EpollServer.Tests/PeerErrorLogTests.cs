// Peers' protocol errors are answered, counted and logged with the peer's address, but at a bounded rate: a flood
// of bad lines costs a few log lines and one summary, and the good client beside it is served throughout.
using EpollServer.Diagnostics;
using EpollServer.Protocols;
using EpollServer.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace EpollServer.Tests;

public sealed class PeerErrorLogTests
{
    [Fact]
    public void AFloodOfInvalidLines_IsLoggedAtMostBurstTimesPerWindow_ThenSummarised_AndAllCounted()
    {
        using var server = new TestServer(new ReverseHandler(), o =>
        {
            o.PeerErrorLogBurst = 3;
            o.PeerErrorLogWindow = TimeSpan.FromSeconds(2);
        }, clock: new FakeTimeProvider());
        using var bad = TestClient.Connect(server.Port);
        using var good = TestClient.Connect(server.Port);
        byte[] invalid = [0xC3, 0x28, (byte)'\n'];   // a broken two-byte sequence
        for (int i = 0; i < 20; i++)
        {
            bad.Send(invalid);
            Assert.Equal("ERR line is not valid UTF-8", bad.ReadLine());
        }
        good.Send("abc\n");
        Assert.Equal("cba", good.ReadLine());
        Assert.Equal(20, server.Server.Stats[Counter.PeerErrors]);
        Assert.Equal(3, server.Log.Lines.Count(l => l.Contains("line is not valid UTF-8") && l.Contains("peer 127.0.0.1:")));

        // After the window (on the server's clock), the next error brings the summary of what was left out, and is
        // itself logged.
        server.Advance(TimeSpan.FromSeconds(2));
        bad.Send(invalid);
        Assert.Equal("ERR line is not valid UTF-8", bad.ReadLine());
        server.WaitUntil(s => s.Stats[Counter.PeerErrors] == 21, "the 21st error counted");
        Assert.Contains(server.Log.Lines, l => l.Contains("17 more peer errors were not logged"));
        Assert.Equal(4, server.Log.Lines.Count(l => l.Contains("line is not valid UTF-8") && l.Contains("peer 127.0.0.1:")));
    }

    [Fact]
    public void AnOverlongLine_IsLoggedWithThePeersAddress()
    {
        using var server = new TestServer(new LineEchoHandler(maxLineLength: 16));
        using var client = TestClient.Connect(server.Port);
        client.Send(new string('x', 40) + "\n");
        Assert.Equal("ERR line longer than 16 bytes; closing", client.ReadLine());
        server.WaitUntil(s => s.Stats[Counter.PeerErrors] == 1, "the error counted");
        Assert.Contains(server.Log.Lines, l => l.Contains($"peer 127.0.0.1:{((System.Net.IPEndPoint)client.Socket.LocalEndPoint!).Port}: line longer than 16 bytes; closed"));
    }
}
