// What the server can tell about itself: its fds by role, collected from every reactor.
using EpollServer.Diagnostics;
using EpollServer.Net;

namespace EpollServer;

public sealed partial class Server
{
    // Any thread: each reactor lists its own fds on its own thread (it alone owns its connection table).
    public async Task<FdReport> GetFdReportAsync()
    {
        if (_state is not (ServerState.Running or ServerState.Draining))
            throw new InvalidOperationException("the server is not running");
        var parts = new Task<(int[] Listeners, int[] Connections)>[_reactors.Length];
        for (int i = 0; i < _reactors.Length; i++)
        {
            ReactorLoop reactor = _reactors[i];
            var part = new TaskCompletionSource<(int[], int[])>(TaskCreationOptions.RunContinuationsAsynchronously);
            reactor.Context.Loop.Post(() => part.TrySetResult(ListOwnFds(reactor)));
            parts[i] = part.Task;
        }
        (int[] Listeners, int[] Connections)[] lists = await Task.WhenAll(parts).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        return new FdReport(
            [.. lists.SelectMany(l => l.Listeners), .. _udp?.Fd >= 0 ? [_udp.Fd] : Array.Empty<int>()],
            [.. _reactors.Select(r => new ReactorFds(r.Context.Loop.PollerFd, r.Context.Loop.WakerFd, r.Context.Loop.WakerWriteFd))],
            _spare.Fd,
            [.. lists.SelectMany(l => l.Connections)],
            [.. _reserve.Fds]);
    }

    private static (int[] Listeners, int[] Connections) ListOwnFds(ReactorLoop reactor) => (
        [.. reactor.Listeners.Where(l => l.Fd >= 0).Select(l => l.Fd)],
        [.. reactor.Context.Connections.Snapshot().Where(c => c.Fd >= 0).Select(c => c.Fd)]);

    // The fds the server holds, counted from any thread without asking the loops (GetFdReportAsync lists them
    // exactly): it may be a connection behind, which a gauge can afford.
    internal int OwnFdCount
    {
        get
        {
            int count = (_udp?.Fd >= 0 ? 1 : 0) + (_spare.IsHeld ? 1 : 0) + _reserve.Fds.Count + OpenConnections;
            foreach (ReactorLoop reactor in _reactors)
            {
                Reactor.EventLoop loop = reactor.Context.Loop;
                count += (loop.PollerFd >= 0 ? 1 : 0) + (loop.WakerFd >= 0 ? 1 : 0) + (loop.WakerWriteFd >= 0 ? 1 : 0);
                // By index, not foreach: the loop closes listeners at stop, and an enumerator would throw then.
                for (int i = 0; i < reactor.Listeners.Count; i++)
                    count += reactor.Listeners.ElementAtOrDefault(i) is { Fd: >= 0 } ? 1 : 0;
            }
            return count;
        }
    }

    // Any thread: completes once every reactor has run every timer due at the clock's current time, and the
    // iteration that ran them has finished. Tests that advance an injected clock wait on it instead of sleeping.
    internal Task AfterDueTimersAsync() => Task.WhenAll(_reactors.Select(reactor =>
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Reactor.EventLoop loop = reactor.Context.Loop;
        // Posted work runs before the timers of its iteration; a zero-delay timer runs with them, and what it posts
        // runs in the next iteration, after all of them.
        loop.Post(() => loop.Schedule(TimeSpan.Zero, () => loop.Post(() => done.TrySetResult())));
        // A reactor whose loop has ended (drained before the others) runs no more timers: nothing to wait for.
        return Task.WhenAny(done.Task, reactor.Stopped);
    }));
}
