// An in-process EpollServer on loopback port 0, with its log lines captured for assertions.
using EpollServer.Protocols;

namespace EpollServer.Tests.Infrastructure;

public sealed class TestServer : IDisposable
{
    // poller: "auto" (epoll), or "poll" for the suites that run on every backend (see Pollers).
    public TestServer(IProtocolHandler? handler = null, Action<ServerOptions>? configure = null, string address = "127.0.0.1", string poller = "auto")
    {
        var options = new ServerOptions { Address = address, Port = 0, ShutdownTimeout = TimeSpan.FromSeconds(3), Poller = poller };
        configure?.Invoke(options);
        Server = new Server(options, handler ?? new EchoHandler(), Log);
        Server.Start();
    }

    public Server Server { get; }

    public CapturingLogger Log { get; } = new();

    public int Port => Server.Port;

    // Counters are written by the loop thread; wait until a condition on them holds instead of sleeping.
    public void WaitUntil(Func<Server, bool> condition, string what, int timeoutMs = 10_000) =>
        Wait.Until(() => condition(Server), what, timeoutMs);

    public void Dispose()
    {
        Server.Stop();
        Assert.True(Server.Completion.Wait(TimeSpan.FromSeconds(15)), "the server did not stop within 15 s");
    }
}

// The backends this machine runs: the end-to-end echo suites take each as a theory argument. kqueue joins where it
// can be loaded (libkqueue on Linux); where it cannot, its contract suite reports every test as not run, with why.
public sealed class Pollers : TheoryData<string>
{
    public Pollers()
    {
        Add("epoll");
        Add("poll");
        if (Reactor.KqueuePoller.Unavailable is null)
            Add("kqueue");
    }
}
