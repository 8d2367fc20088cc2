// --busy-poll: after traffic the loop keeps polling without sleeping for the configured time, then sleeps again.
// Observed through the loop's own iteration counter, which races while it spins, and through the kernel: a loop that
// sleeps is blocked in epoll_wait with a timeout other than 0 (LoopThreadState), which a spinning loop never is. The
// window is measured on a clock the test moves, so it cannot end early on a slow machine; nothing waits on time.
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

        // Past the window: asleep in the wait. Moved without a wake-up: an event would start a new window.
        int[] threads = [.. server.Server.Reactors.Select(r => LoopThreadState.ThreadIdOf(r.Context.Loop))];
        Assert.DoesNotContain(threads, LoopThreadState.IsAsleep);   // the clock stands still: inside the window
        start = server.Server.LoopIterations;
        server.WaitUntil(s => s.LoopIterations - start > 1000, "the loop still spins before the clock moves");
        clock.Advance(TimeSpan.FromMilliseconds(400));
        Wait.Until(() => threads.All(LoopThreadState.IsAsleep), "every loop went back to sleep after its busy-poll window",
            () => string.Join("; ", threads.Select(LoopThreadState.Describe)), 20_000);

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
        // Without busy-polling every loop blocks in its wait with a timeout as soon as it has nothing to do.
        int[] threads = [.. server.Server.Reactors.Select(r => LoopThreadState.ThreadIdOf(r.Context.Loop))];
        Wait.Until(() => threads.All(LoopThreadState.IsAsleep), "every loop sleeps after the traffic", () => string.Join("; ", threads.Select(LoopThreadState.Describe)));
    }
}
