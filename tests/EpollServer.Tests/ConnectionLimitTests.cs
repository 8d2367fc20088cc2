// --max-connections: a peer over the limit gets one line and is closed; the others are untouched.
using System.Text;
using EpollServer.Diagnostics;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class ConnectionLimitTests
{
    // One count for the whole server, whichever reactor, or listener (reuseport), a connection arrives on.
    [Theory]
    [InlineData(1, "handoff")]
    [InlineData(3, "handoff")]
    [InlineData(3, "reuseport")]
    public void PeerOverTheLimit_GetsARefusalLineAndIsClosed_OthersKeepEchoing(int reactors, string accept)
    {
        using var server = new TestServer(reactors: reactors, configure: o => { o.MaxConnections = 3; o.Accept = accept; });
        var admitted = Enumerable.Range(0, 3).Select(_ => TestClient.Connect(server.Port)).ToList();
        server.WaitUntil(s => s.OpenConnections == 3, "three connections are open");

        using (var refused = TestClient.Connect(server.Port))
        {
            string answer = Encoding.ASCII.GetString(refused.ReceiveToEnd());
            Assert.StartsWith("ERR server is at its connection limit", answer);
            Assert.EndsWith("\n", answer);
        }
        Assert.Equal(1, server.Server.Stats[Counter.ConnectionsRejectedLimit]);
        foreach (var client in admitted)
            Assert.True(client.EchoesProbe(Patterns.For(1, 100)));

        admitted[0].Dispose();
        server.WaitUntil(s => s.OpenConnections == 2, "the closed connection is gone");
        using var later = TestClient.Connect(server.Port);
        Assert.True(later.EchoesProbe(Patterns.For(2, 100)), "a slot freed up but the new peer was not served");
        admitted.Skip(1).ToList().ForEach(c => c.Dispose());
    }
}
