// --max-connections-per-address: one host cannot take every slot; others, and the host itself once it closes
// some, are served.
using EpollServer.Diagnostics;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class PerAddressLimitTests
{
    // One count for the whole server, whichever reactor, or listener (reuseport), a connection arrives on.
    [Theory]
    [InlineData(1, "handoff")]
    [InlineData(3, "handoff")]
    [InlineData(3, "reuseport")]
    public void OverTheLimit_RefusedWithALine_OtherAddressesAndFreedSlotsServed(int reactors, string accept)
    {
        using var server = new TestServer(reactors: reactors, configure: o => { o.MaxConnectionsPerAddress = 3; o.Accept = accept; }, address: "::");
        var admitted = Enumerable.Range(0, 3).Select(_ => TestClient.Connect(server.Port)).ToList();
        Assert.All(admitted, c => Assert.True(c.EchoesProbe([1])));

        using (var refused = TestClient.Connect(server.Port))
            Assert.Equal("ERR too many connections from your address\n"u8.ToArray(), refused.ReceiveToEnd());
        Assert.Equal(1, server.Server.Stats[Counter.ConnectionsRejectedPerAddress]);

        // ::1 is another address, with its own count.
        using (var v6 = TestClient.Connect(server.Port, "::1"))
            Assert.True(v6.EchoesProbe([6]));

        admitted[0].Dispose();
        server.WaitUntil(s => s.OpenConnections == 2, "the closed connection is gone");
        using var again = TestClient.Connect(server.Port);
        Assert.True(again.EchoesProbe([2]));
        admitted.ForEach(c => c.Dispose());
    }
}
