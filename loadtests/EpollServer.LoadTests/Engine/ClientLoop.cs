// One generator thread: an EventLoop from the server's own reactor (epoll), driving the non-blocking client sockets
// given to it. Other threads talk to it only through Post, as they would to a server loop.
using System.Net;
using EpollServer.Interop;
using EpollServer.Reactor;
using Microsoft.Extensions.Logging.Abstractions;

namespace EpollServer.LoadTests.Engine;

internal sealed class ClientLoop : IDisposable
{
    private const int ConnectsInFlight = 128;   // below the usual listen backlog, so no SYN is dropped and retried

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
        loop.AddBatchHook(RunAfterBatch);
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

    // The loops of one run: `plan.Threads` of them (at most one per connection), its clients dealt round-robin.
    public static List<ClientLoop> CreateAll(LoadPlan plan, RunClock clock, int timelineSeconds, Func<ClientLoop, int, LoadClient> createClient)
    {
        int threads = Math.Clamp(plan.Threads, 1, Math.Max(1, plan.Connections));
        var loops = new List<ClientLoop>();
        try
        {
            for (int i = 0; i < threads; i++)
                loops.Add(Create(i, clock, timelineSeconds, plan.Target));
            for (int i = 0; i < plan.Connections; i++)
            {
                ClientLoop loop = loops[i % threads];
                loop.Clients.Add(createClient(loop, i));
            }
            return loops;
        }
        catch
        {
            DisposeAll(loops);
            throw;
        }
    }

    // Starts every loop's thread; each connects its up-front clients, ConnectsInFlight at a time.
    public static void StartAll(IReadOnlyList<ClientLoop> loops)
    {
        foreach (ClientLoop loop in loops)
        {
            loop.AddAfterBatch(loop.ConnectPacer());
            loop.Start();
            loop.Post(() => { });   // the first wake-up, so the pacer runs once before any event
        }
    }

    public static int ReadyTotal(IReadOnlyList<ClientLoop> loops) => loops.Sum(l => Volatile.Read(ref l.ReadyClients));

    public static long ConnectFailuresTotal(IReadOnlyList<ClientLoop> loops) =>
        loops.Sum(l => Volatile.Read(ref l.Stats.Errors[(int)LoadError.ConnectFailed]));

    public static void DisposeAll(IReadOnlyList<ClientLoop> loops)
    {
        foreach (ClientLoop loop in loops)
            loop.Dispose();
    }

    // After every batch: start more up-front connects while fewer than ConnectsInFlight are pending; nothing once
    // all are started.
    private Action ConnectPacer()
    {
        int next = 0;
        long started = 0;
        return () =>
        {
            if (next == Clients.Count)
                return;
            long settled = Stats.ConnectionsOpened + Stats.Errors[(int)LoadError.ConnectFailed];
            while (next < Clients.Count && started - settled < ConnectsInFlight)
            {
                LoadClient client = Clients[next++];
                if (!client.ConnectsUpFront)
                    continue;
                started++;
                client.Connect(Target);
            }
        };
    }

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
