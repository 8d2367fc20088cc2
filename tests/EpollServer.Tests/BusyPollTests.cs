// --busy-poll: after traffic the loop keeps polling without sleeping for the configured time, then sleeps again.
// Observed through the loop's own iteration counter: it races while spinning and stands still once asleep.
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class BusyPollTests
{
    [Fact]
    public void AfterTraffic_TheLoopSpinsForTheWindow_ThenSleeps()
    {
        using var server = new TestServer(configure: o => o.BusyPoll = TimeSpan.FromMilliseconds(400));
        using var client = TestClient.Connect(server.Port);
        Assert.True(client.EchoesProbe(Patterns.For(1, 64)));

        // Inside the window: zero-timeout waits, thousands of them (a sleeping loop would make none).
        long start = server.Server.LoopIterations;
        Thread.Sleep(100);
        long spun = server.Server.LoopIterations - start;
        Assert.True(spun > 100, $"the loop made only {spun} iterations in 100 ms of its busy-poll window");

        // Well after the window: asleep in the wait, the counter stands still.
        Wait.Until(() =>
        {
            long before = server.Server.LoopIterations;
            Thread.Sleep(200);
            return server.Server.LoopIterations == before;
        }, "the loop went back to sleep after its busy-poll window", 10_000);

        // And traffic still flows, starting a new window.
        Assert.True(client.EchoesProbe(Patterns.For(2, 64)));
    }

    [Fact]
    public void Off_TheLoopSleepsRightAfterTraffic()
    {
        using var server = new TestServer();
        using var client = TestClient.Connect(server.Port);
        Assert.True(client.EchoesProbe(Patterns.For(1, 64)));
        Thread.Sleep(50);
        long before = server.Server.LoopIterations;
        Thread.Sleep(200);
        Assert.True(server.Server.LoopIterations - before <= 2, "the loop woke without events or timers");
    }
}
