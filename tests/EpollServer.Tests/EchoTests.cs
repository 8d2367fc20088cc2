// Echo of small, medium and very large payloads, every byte compared; the large one meets a slow reader.
using System.Net.Sockets;
using EpollServer.Diagnostics;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class EchoTests
{
    [PollerTheory]
    [ClassData(typeof(Pollers))]
    public void Echo_OneByte_ComesBack(string poller, int reactors)
    {
        using var server = new TestServer(poller: poller, reactors: reactors);
        using var client = TestClient.Connect(server.Port);
        client.Send([0x5A]);
        Assert.Equal([0x5A], client.ReceiveExactly(1));
    }

    [PollerTheory]
    [ClassData(typeof(Pollers))]
    public void Echo_64KiB_ArrivesIntact(string poller, int reactors)
    {
        using var server = new TestServer(poller: poller, reactors: reactors);
        using var client = TestClient.Connect(server.Port);
        byte[] payload = Patterns.For(64, 64 * 1024);
        var receiving = Task.Run(() => client.ReceiveExactly(payload.Length));
        client.Send(payload);
        Assert.True(receiving.Wait(TestClient.TimeoutMs), "64 KiB did not come back in time");
        Assert.Equal(payload, receiving.Result);
    }

    [PollerTheory]
    [ClassData(typeof(Pollers))]
    public void Echo_16MiB_ToASlowReader_EngagesBackpressureAndArrivesIntact(string poller, int reactors)
    {
        using var server = new TestServer(poller: poller, reactors: reactors);
        // A small receive buffer so the server's send meets EAGAIN early and its output ring fills.
        using var client = TestClient.Connect(server.Port, receiveBuffer: 16 * 1024);
        byte[] payload = Patterns.For(16, 16 * 1024 * 1024);
        var sending = Task.Run(() => client.Send(payload));

        // Read slowly at first: 64 KiB at a time with a pause, long enough for the server to meet a full socket.
        var received = new MemoryStream();
        for (int i = 0; i < 20; i++)
        {
            received.Write(client.ReceiveExactly(64 * 1024));
            Thread.Sleep(20);
        }
        received.Write(client.ReceiveExactly(payload.Length - (int)received.Length));

        Assert.True(sending.Wait(TestClient.TimeoutMs), "the sender did not finish");
        Assert.True(payload.AsSpan().SequenceEqual(received.ToArray()), "the echoed 16 MiB differ from what was sent");
        Assert.True(server.Server.Stats[Counter.SendWouldBlock] > 0, "the server never met EAGAIN on send");
        Assert.True(server.Server.Stats[Counter.ReadPauses] > 0, "backpressure never paused reading");
    }

    [PollerTheory]
    [ClassData(typeof(Pollers))]
    public void Echo_OverIPv4AndIPv6_OnOneDualStackListener(string poller, int reactors)
    {
        using var server = new TestServer(address: "::", poller: poller, reactors: reactors);
        foreach (string host in new[] { "127.0.0.1", "::1" })
        {
            using var client = TestClient.Connect(server.Port, host);
            byte[] payload = Patterns.For(host.Length, 1000);
            client.Send(payload);
            Assert.Equal(payload, client.ReceiveExactly(payload.Length));
        }
    }

    [PollerTheory]
    [ClassData(typeof(Pollers))]
    public void Echo_ManySmallWrites_ComeBackInOrder(string poller, int reactors)
    {
        using var server = new TestServer(poller: poller, reactors: reactors);
        using var client = TestClient.Connect(server.Port);
        var expected = new MemoryStream();
        var receiving = Task.Run(() => client.ReceiveExactly(10_000 * 7));
        for (int i = 0; i < 10_000; i++)
        {
            byte[] message = Patterns.For(i, 7);
            client.Send(message);
            expected.Write(message);
        }
        Assert.True(receiving.Wait(TestClient.TimeoutMs));
        Assert.Equal(expected.ToArray(), receiving.Result);
    }

    [PollerTheory]
    [ClassData(typeof(Pollers))]
    public void IdleConnections_OwnNoBuffers(string poller, int reactors)
    {
        using var server = new TestServer(poller: poller, reactors: reactors);
        var clients = Enumerable.Range(0, 20).Select(_ => TestClient.Connect(server.Port)).ToList();
        foreach (var client in clients)
        {
            client.Send([1, 2, 3]);
            Assert.Equal([1, 2, 3], client.ReceiveExactly(3));
        }
        // Every connection drained its rings, so all storage is back in its reactor's pool and none is held per
        // connection; and since the echoes ran one after another, one pair of buffers per reactor served them all.
        server.WaitUntil(s => s.OpenConnections == 20 && s.Reactors.All(r => r.Context.InputPool.Retained == r.Context.InputPool.Allocated
            && r.Context.OutputPool.Retained == r.Context.OutputPool.Allocated), "every ring's storage is back in its pool");
        foreach (ReactorLoop reactor in server.Server.Reactors)
        {
            Assert.InRange(reactor.Context.InputPool.Allocated, 1, 2);
            Assert.InRange(reactor.Context.OutputPool.Allocated, 1, 2);
        }
        clients.ForEach(c => c.Dispose());
    }
}
