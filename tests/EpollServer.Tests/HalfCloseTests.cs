// The peer shuts down its sending side: everything it sent still comes back, and only then the server's FIN.
using System.Net.Sockets;
using EpollServer.Diagnostics;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class HalfCloseTests
{
    [PollerTheory]
    [ClassData(typeof(Pollers))]
    public void ClientHalfClose_AllBytesComeBackBeforeTheServersFin(string poller, int reactors)
    {
        using var server = new TestServer(poller: poller, reactors: reactors);
        using var client = TestClient.Connect(server.Port);
        byte[] payload = Patterns.For(3, 3 * 1024 * 1024 + 17);
        var receiving = Task.Run(() => client.ReceiveToEnd());
        client.Send(payload);
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.True(receiving.Wait(TestClient.TimeoutMs), "no FIN from the server");
        Assert.Equal(payload, receiving.Result);
        server.WaitUntil(s => s.OpenConnections == 0, "the server closed its side (no CLOSE_WAIT left)");
    }

    [PollerTheory]
    [ClassData(typeof(Pollers))]
    public void ClientHalfClose_WithNothingSent_ServerClosesCleanly(string poller, int reactors)
    {
        using var server = new TestServer(poller: poller, reactors: reactors);
        using var client = TestClient.Connect(server.Port);
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Empty(client.ReceiveToEnd());
        server.WaitUntil(s => s.OpenConnections == 0 && s.Stats[Counter.ConnectionsClosed] == 1, "the connection is closed");
    }
}
