// 1000 connections at once, each echoing its own pattern: nothing crosses between connections.
using System.Net;
using System.Net.Sockets;
using EpollServer.Diagnostics;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class ConcurrentEchoTests
{
    [PollerTheory]
    [ClassData(typeof(Pollers))]
    public async Task Echo_1000ConcurrentConnections_EachGetsItsOwnBytesBack(string poller, int reactors)
    {
        using var server = new TestServer(poller: poller, reactors: reactors);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < 1000; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(socket);
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port), timeout.Token);
            }
            server.WaitUntil(s => s.OpenConnections == 1000, "all 1000 connections are accepted");
            await Task.WhenAll(sockets.Select((socket, i) => EchoRounds(socket, i, timeout.Token)));
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
        Assert.Equal(1000, server.Server.Stats[Counter.ConnectionsAccepted]);
    }

    private static async Task EchoRounds(Socket socket, int id, CancellationToken cancel)
    {
        for (int round = 0; round < 3; round++)
        {
            byte[] pattern = Patterns.For((id * 7) + round, 512 + (id % 1024));
            await socket.SendAsync(pattern, cancel);
            var echoed = new byte[pattern.Length];
            int got = 0;
            while (got < echoed.Length)
            {
                int n = await socket.ReceiveAsync(echoed.AsMemory(got), cancel);
                Assert.True(n > 0, $"connection {id} closed early");
                got += n;
            }
            Assert.Equal(pattern, echoed);
        }
    }
}
