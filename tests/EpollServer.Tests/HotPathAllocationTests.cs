// "No allocation per message": the loop thread's own allocation counter, read on the loop thread itself, does not
// move while thousands of messages are echoed.
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class HotPathAllocationTests
{
    [Fact]
    public void EchoingTenThousandMessages_AllocatesNothingOnTheLoopThread()
    {
        using var server = new TestServer();
        using var client = TestClient.Connect(server.Port);
        byte[] message = Patterns.For(42, 100);
        RoundTrips(client, message, 2_000);   // warm-up: pools filled, tiered JIT settled, lists grown

        long before = LoopThreadAllocatedBytes(server.Server);
        RoundTrips(client, message, 10_000);
        long after = LoopThreadAllocatedBytes(server.Server);

        // The two probes themselves are closures run on the loop; allow for them, and nothing per message.
        Assert.True(after - before < 2_000, $"the loop thread allocated {after - before} bytes over 10,000 echoes");
    }

    [Theory]
    [InlineData("line")]
    [InlineData("reverse")]
    public void LineProtocols_TenThousandLines_AllocateNothingOnTheLoopThread(string protocol)
    {
        IProtocolHandler handler = protocol == "line" ? new LineEchoHandler() : new ReverseHandler();
        using var server = new TestServer(handler);
        using var client = TestClient.Connect(server.Port);
        byte[] line = "안녕하세요, hello 👍🏽 e\u0301\n"u8.ToArray();
        byte[] expected = protocol == "line" ? line : "e\u0301 👍🏽 olleh ,요세하녕안\n"u8.ToArray();
        RoundTrips(client, line, 2_000, expected);

        long before = LoopThreadAllocatedBytes(server.Server);
        RoundTrips(client, line, 10_000, expected);
        long after = LoopThreadAllocatedBytes(server.Server);
        Assert.True(after - before < 2_000, $"the loop thread allocated {after - before} bytes over 10,000 {protocol} lines");
    }

    // A chat message relayed to two readers: one copy into the message buffer, one write per reader, no allocation.
    [Fact]
    public void ChatRelay_TenThousandMessages_AllocatesNothingOnTheLoopThread()
    {
        using var server = new TestServer(new ChatHandler());
        using var sender = TestClient.Connect(server.Port);
        sender.ReadLine();
        using var a = TestClient.Connect(server.Port);
        a.ReadLine();
        sender.ReadLine();
        using var b = TestClient.Connect(server.Port);
        b.ReadLine();
        sender.ReadLine();
        a.ReadLine();
        void Relay(int count)
        {
            for (int i = 0; i < count; i++)
            {
                sender.Send("a message of an ordinary length\n");
                Assert.Equal("<guest1> a message of an ordinary length", a.ReadLine());
                Assert.Equal("<guest1> a message of an ordinary length", b.ReadLine());
            }
        }
        Relay(2_000);
        long before = LoopThreadAllocatedBytes(server.Server);
        Relay(10_000);
        long after = LoopThreadAllocatedBytes(server.Server);
        Assert.True(after - before < 2_000, $"the loop thread allocated {after - before} bytes over 10,000 chat messages");
    }

    // The proxy's forwarding, both ways (client to upstream, upstream back to the client), allocates nothing either.
    [Fact]
    public void ProxyForwarding_TenThousandRoundTrips_AllocatesNothingOnTheLoopThread()
    {
        using var upstream = new TestServer();
        using var proxy = new TestServer(new ProxyHandler("127.0.0.1", upstream.Port));
        using var client = TestClient.Connect(proxy.Port);
        byte[] message = Patterns.For(43, 100);
        RoundTrips(client, message, 2_000);

        long before = LoopThreadAllocatedBytes(proxy.Server);
        RoundTrips(client, message, 10_000);
        long after = LoopThreadAllocatedBytes(proxy.Server);
        Assert.True(after - before < 2_000, $"the proxy's loop thread allocated {after - before} bytes over 10,000 round trips");
    }

    private static void RoundTrips(TestClient client, byte[] message, int count, byte[]? expected = null)
    {
        expected ??= message;
        for (int i = 0; i < count; i++)
        {
            client.Send(message);
            Assert.Equal(expected, client.ReceiveExactly(expected.Length));
        }
    }

    private static long LoopThreadAllocatedBytes(Server server)
    {
        var result = new TaskCompletionSource<long>();
        server.Loop.Post(() => result.SetResult(GC.GetAllocatedBytesForCurrentThread()));
        Assert.True(result.Task.Wait(TestClient.TimeoutMs), "the loop did not answer");
        return result.Task.Result;
    }
}
