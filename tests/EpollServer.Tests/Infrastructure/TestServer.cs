// An in-process EpollServer on loopback port 0, with its log lines captured for assertions. A test about time gives
// it a FakeTimeProvider and moves the server's clock with Advance: no test waits for a wall-clock timeout.
using EpollServer.Protocols;
using Microsoft.Extensions.Time.Testing;

namespace EpollServer.Tests.Infrastructure;

public sealed class TestServer : IDisposable
{
    // poller: "auto" (epoll), or "poll" for the suites that run on every backend (see Pollers).
    // One reactor unless `reactors` says more; then `handlers` makes a handler per reactor (echo when not given).
    public TestServer(IProtocolHandler? handler = null, Action<ServerOptions>? configure = null, string address = "127.0.0.1", string poller = "auto",
        FakeTimeProvider? clock = null, int reactors = 1, Func<IProtocolHandler>? handlers = null)
    {
        var options = new ServerOptions
        {
            Address = address, Port = 0, ShutdownTimeout = TimeSpan.FromSeconds(3), Poller = poller,
            Reactors = reactors.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        configure?.Invoke(options);
        Clock = clock;
        Server = reactors > 1 || handlers is not null
            ? new Server(options, handlers ?? (() => new EchoHandler()), Log, clock)
            : new Server(options, handler ?? new EchoHandler(), Log, clock);
        Server.Start();
    }

    public Server Server { get; }

    // The server's clock when the test injected one; null when it runs on the real clock.
    public FakeTimeProvider? Clock { get; }

    public CapturingLogger Log { get; } = new();

    public int Port => Server.Port;

    // One of the protocol's named counters, summed over the reactors' handlers.
    public long HandlerCounter(string name) => Server.HandlerCounters.Single(c => c.Key == name).Value;

    // Counters are written by the loop thread; wait until a condition on them holds instead of sleeping.
    public void WaitUntil(Func<Server, bool> condition, string what, int timeoutMs = 10_000) =>
        Wait.Until(() => condition(Server), what, timeoutMs);

    // Moves the injected clock and returns once the server has acted on every timer that became due.
    public void Advance(TimeSpan by)
    {
        Assert.NotNull(Clock);
        Clock.Advance(by);
        // A timer that stops the server (the drain deadline) ends the loop before the barrier comes round.
        Task done = Task.WhenAny(Server.AfterDueTimersAsync(), Server.Completion);
        Assert.True(done.Wait(TimeSpan.FromSeconds(30)), "the loop did not run its due timers");
    }

    public void Dispose()
    {
        Server.Stop();
        // A stop that waits on its drain or linger deadline: on an injected clock, that time has to be made to pass
        // (a second at a time, each followed by a wake-up, so the loop sees it).
        for (int i = 0; Clock is not null && i < 60 && !Server.Completion.Wait(TimeSpan.FromMilliseconds(100)); i++)
        {
            Clock.Advance(TimeSpan.FromSeconds(1));
            _ = Server.AfterDueTimersAsync();
        }
        Assert.True(Server.Completion.Wait(TimeSpan.FromSeconds(15)), "the server did not stop within 15 s");
    }
}

// The backends this machine runs, each with one reactor and with three (more reactors than this machine's two cores,
// which proves them correct oversubscribed): the end-to-end echo suites take each pair as theory arguments. kqueue is
// always listed; where it cannot be loaded (no libkqueue on Linux), [PollerTheory] reports its rows as skipped.
public sealed class Pollers : TheoryData<string, int>
{
    public Pollers()
    {
        foreach (string poller in (string[])["epoll", "poll", "kqueue"])
        {
            Add(poller, 1);
            Add(poller, 3);
        }
    }
}

// One reactor and three, for the end-to-end suites that do not vary the backend.
public sealed class ReactorCounts : TheoryData<int>
{
    public ReactorCounts()
    {
        Add(1);
        Add(3);
    }
}
