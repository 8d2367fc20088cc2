// One generator thread: an EventLoop from the server's own reactor (epoll), driving the non-blocking client sockets
// given to it. Other threads talk to it only through Post, as they would to a server loop.
using System.Net;
using EpollServer.Interop;
using EpollServer.Reactor;
using Microsoft.Extensions.Logging.Abstractions;

namespace EpollServer.LoadTests.Engine;

internal sealed class ClientLoop : IDisposable
{
    private readonly Thread _thread;
    private readonly List<Action> _afterBatch = [];

    private ClientLoop(int index, EventLoop loop, LoadStats stats, RunClock clock, IPEndPoint target)
    {
        Target = target;
        Index = index;
        Clock = clock;
        Loop = loop;
        Stats = stats;
        _thread = new Thread(loop.Run) { Name = $"load-loop-{index}", IsBackground = true };
        loop.BatchCompleted = RunAfterBatch;
    }

    public int Index { get; }

    public EventLoop Loop { get; }

    public LoadStats Stats { get; }

    public RunClock Clock { get; }

    public IPEndPoint Target { get; }

    // Clients that have become Ready (connected; chat: welcomed). Written by this loop, read by the orchestrator.
    public int ReadyClients;

    // Every client of this loop, in the order they were added (the open model hands requests out round-robin).
    public List<LoadClient> Clients { get; } = [];

    // One receive buffer for the whole loop: a client consumes what it read before the next recv, so 10,000 idle
    // clients cost no receive memory.
    public byte[] ReceiveBuffer { get; } = new byte[64 * 1024];

    public static ClientLoop Create(int index, RunClock clock, int timelineSeconds, IPEndPoint target)
    {
        SyscallResult made = EpollPoller.Create(1024, out EpollPoller? poller);
        if (!made.Ok)
            throw new InvalidOperationException($"epoll_create1 failed: {made.Error}");
        SyscallResult created = EventLoop.Create(poller!, 1024, NullLogger.Instance, out EventLoop? loop);
        if (!created.Ok)
        {
            poller!.Dispose();
            throw new InvalidOperationException($"the loop's waker could not be made: {created.Error}");
        }
        return new ClientLoop(index, loop!, new LoadStats(clock, timelineSeconds), clock, target);
    }

    public void Start() => _thread.Start();

    public void Post(Action work) => Loop.Post(work);

    // Work that runs after every batch of events (the open model's pacer, connect pacing); loop thread only.
    public void AddAfterBatch(Action work) => _afterBatch.Add(work);

    // Loop thread: closes every client and ends Run; Join then waits for the thread.
    public void Shutdown()
    {
        foreach (LoadClient client in Clients)
        {
            if (client.Owed > 0)
                Stats.RecordError(LoadError.Unanswered, Loop.Now, client.Owed);
            client.Close();
        }
        Loop.Stop();
    }

    public bool Join(TimeSpan timeout) => _thread.Join(timeout);

    // Closes every client of every loop on its own thread, and waits for the threads (10 s each at most).
    public static void StopAll(IReadOnlyList<ClientLoop> loops)
    {
        foreach (ClientLoop loop in loops)
            loop.Post(loop.Shutdown);
        foreach (ClientLoop loop in loops)
        {
            if (!loop.Join(TimeSpan.FromSeconds(10)))
                throw new TimeoutException($"generator loop {loop.Index} did not stop within 10 s");
        }
    }

    private void RunAfterBatch()
    {
        foreach (Action work in _afterBatch)
            work();
    }

    public void Dispose() => Loop.Dispose();
}
