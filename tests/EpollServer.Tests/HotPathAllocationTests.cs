// "No allocation per message": the loop thread's own allocation counter, read on the loop thread itself, does not
// move while thousands of messages are echoed.
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

    private static void RoundTrips(TestClient client, byte[] message, int count)
    {
        for (int i = 0; i < count; i++)
        {
            client.Send(message);
            Assert.Equal(message, client.ReceiveExactly(message.Length));
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
