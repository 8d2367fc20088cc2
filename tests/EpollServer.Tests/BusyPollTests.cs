// --busy-poll: after traffic the loop keeps polling without sleeping for the configured time, then sleeps again.
// Observed through the loop's own iteration counter: it races while spinning and stands still once asleep. The
// window is measured on a clock the test moves, so it cannot end early on a slow machine.
using EpollServer.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace EpollServer.Tests;

public sealed class BusyPollTests
{
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void AfterTraffic_TheLoopSpinsForTheWindow_ThenSleeps(int reactors)
    {
        var clock = new FakeTimeProvider();
        using var server = new TestServer(reactors: reactors, configure: o => o.BusyPoll = TimeSpan.FromMilliseconds(400), clock: clock);
        using var client = TestClient.Connect(server.Port);
        Assert.True(client.EchoesProbe(Patterns.For(1, 64)));

        // Inside the window (the clock stands still): zero-timeout waits, thousands of them; a sleeping loop makes none.
        long start = server.Server.LoopIterations;
        server.WaitUntil(s => s.LoopIterations - start > 1000, "the loop spun in its busy-poll window");

        // Past the window: asleep in the wait, the counter stands still. Moved without a wake-up: an event would
        // start a new window.
        clock.Advance(TimeSpan.FromMilliseconds(400));
        Wait.Until(() =>
        {
            long before = server.Server.LoopIterations;
            Thread.Sleep(200);
            return server.Server.LoopIterations == before;
        }, "the loop went back to sleep after its busy-poll window", 20_000);

        // And traffic still flows, starting a new window.
        Assert.True(client.EchoesProbe(Patterns.For(2, 64)));
        start = server.Server.LoopIterations;
        server.WaitUntil(s => s.LoopIterations - start > 1000, "the loop spun again after new traffic");
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void Off_TheLoopSleepsRightAfterTraffic(int reactors)
    {
        using var server = new TestServer(reactors: reactors, clock: new FakeTimeProvider());
        using var client = TestClient.Connect(server.Port);
        Assert.True(client.EchoesProbe(Patterns.For(1, 64)));
        Thread.Sleep(50);
        long before = server.Server.LoopIterations;
        Thread.Sleep(200);
        Assert.True(server.Server.LoopIterations - before <= 2, "the loop woke without events or timers");
    }
}
