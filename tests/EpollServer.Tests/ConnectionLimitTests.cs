// --max-connections: a peer over the limit gets one line and is closed; the others are untouched. Derived from the fd
// limit, the cap counts what each connection costs: two fds for a proxy's client (its own and its upstream's).
using System.Text;
using System.Text.RegularExpressions;
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

    // The proxy daemon under a small RLIMIT_NOFILE (prlimit): the cap it logs is half the fds left over, and that many
    // clients are all served through it (no EMFILE), the next one refused with the line.
    [Fact]
    public void ProxyUnderALowFdLimit_CapCountsTwoFdsPerClient_EveryClientUnderItServed()
    {
        using var echo = DaemonProcess.Start("--address 127.0.0.1 --port 0");
        using var proxy = DaemonProcess.Start($"--address 127.0.0.1 --port 0 --protocol proxy --upstream 127.0.0.1:{echo.Port}", fdLimit: 256);
        Match cap = CapLine.Match(proxy.WaitForLine(CapLine));
        int Number(string group) => int.Parse(cap.Groups[group].Value);
        Assert.Equal(256, Number("limit"));
        Assert.Equal(2, Number("per"));
        Assert.Equal((Number("limit") - Number("inuse") - Number("reserved")) / 2, Number("room"));

        var clients = new List<TestClient>();
        try
        {
            for (int i = 0; i < Number("room"); i++)
            {
                var client = TestClient.Connect(proxy.Port);
                clients.Add(client);
                Assert.True(client.EchoesProbe(Patterns.For(i, 64)), $"client {i} of {Number("room")} was not served through the proxy");
            }
            using var refused = TestClient.Connect(proxy.Port);
            Assert.StartsWith("ERR server is at its connection limit", Encoding.ASCII.GetString(refused.ReceiveToEnd()));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        Assert.DoesNotContain(proxy.Lines, l => l.Contains("EMFILE", StringComparison.Ordinal));
    }

    private static readonly Regex CapLine = new(@"max connections lowered to (?<room>\d+): the fd limit is (?<limit>\d+), (?<inuse>\d+) fds are in use, " +
        @"(?<reserved>\d+) are kept for the runtime and each connection takes (?<per>\d+)");
}
