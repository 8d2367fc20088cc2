// No handler callback ever runs inside another: a close that one connection's callback causes (chat dropping a slow
// reader in the middle of a broadcast) reaches the closed connection's OnClose only after that callback returned, and
// the notices the close sends go out from there. A probe wraps the chat handler and records the nesting depth.
using EpollServer.Buffers;
using EpollServer.Diagnostics;
using EpollServer.Net;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class CallbackOrderTests
{
    // Passes every callback on to the inner handler, noting how deep callbacks are nested and in what order they ran.
    private sealed class NestingProbe(IProtocolHandler inner) : IProtocolHandler
    {
        private int _depth;

        public int MaxDepth { get; private set; }

        public List<string> Order { get; } = [];

        public string Name => inner.Name;

        public bool ClientSpeaksFirst => inner.ClientSpeaksFirst;

        public void OnOpen(Connection connection)
        {
            Enter($"open {connection.Id}");
            try
            {
                inner.OnOpen(connection);
            }
            finally
            {
                Leave($"open {connection.Id}");
            }
        }

        public int OnData(Connection connection, ReadableBytes data)
        {
            Enter($"data {connection.Id}");
            try
            {
                return inner.OnData(connection, data);
            }
            finally
            {
                Leave($"data {connection.Id}");
            }
        }

        public void OnInputEnded(Connection connection, ReadableBytes remaining)
        {
            Enter($"end {connection.Id}");
            try
            {
                inner.OnInputEnded(connection, remaining);
            }
            finally
            {
                Leave($"end {connection.Id}");
            }
        }

        public void OnClose(Connection connection)
        {
            Enter($"close {connection.Id}");
            try
            {
                inner.OnClose(connection);
            }
            finally
            {
                Leave($"close {connection.Id}");
            }
        }

        private void Enter(string what)
        {
            lock (Order)
                Order.Add($"{what} begins at depth {_depth}");
            MaxDepth = Math.Max(MaxDepth, ++_depth);
        }

        private void Leave(string what)
        {
            _depth--;
            lock (Order)
                Order.Add($"{what} returns");
        }
    }

    [Fact]
    public void ASlowReaderDroppedMidBroadcast_HearsOfItsCloseAfterTheBroadcast_NoCallbackNests()
    {
        var probe = new NestingProbe(new ChatHandler());
        using var server = new TestServer(probe, o => o.OutputBufferSize = ChatHandler.MinOutputBufferSize);
        using var sender = TestClient.Connect(server.Port);
        using var reader = TestClient.Connect(server.Port);
        using var slow = TestClient.Connect(server.Port, receiveBuffer: 4096);   // never reads
        server.WaitUntil(s => s.OpenConnections == 3, "three members");
        // Messages drain to the reader as they go; the slow member's output fills and it is dropped during one of them.
        var reading = Task.Factory.StartNew(() => DrainUntilNotice(reader), TaskCreationOptions.LongRunning);
        string line = $"{new string('x', 1000)}\n";
        try
        {
            for (int i = 0; i < 20_000 && server.Server.Stats[Counter.ConnectionsAborted] == 0; i++)   // kernel buffers take megabytes first
                sender.Send(line);
        }
        catch (System.Net.Sockets.SocketException)
        {
            // Only when something went wrong: the assertions below say what.
        }
        server.WaitUntil(s => s.Stats[Counter.ConnectionsAborted] >= 1, "the slow member was dropped");
        lock (probe.Order)
            Assert.True(probe.MaxDepth == 1, $"callbacks nested {probe.MaxDepth} deep:\n{string.Join("\n", probe.Order.Where(o => o.Contains(" begins at depth ", StringComparison.Ordinal) && !o.EndsWith(" depth 0", StringComparison.Ordinal)).Take(5))}");
        Assert.True(reading.Wait(30_000), "the reader never heard that the slow member was dropped");

        lock (probe.Order)
        {
            // The slow member (connection 3) hears of its close at the top level, once a sender's callback has returned.
            int close = probe.Order.IndexOf("close 3 begins at depth 0");
            Assert.True(close > 0, string.Join("\n", probe.Order.TakeLast(10)));
            Assert.Equal("data 1 returns", probe.Order[close - 1]);
        }
    }

    // Reads the reader's lines until the notice that the slow member was dropped.
    private static void DrainUntilNotice(TestClient reader)
    {
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            if (line.EndsWith("was disconnected: too slow (output cap reached)", StringComparison.Ordinal))
                return;
        }
        Assert.Fail("the reader's connection ended before the notice");
    }
}
