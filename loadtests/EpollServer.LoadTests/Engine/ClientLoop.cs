// One generator thread: a loop and its context built by the server's own factory (LoopContext.Create), whose
// connections are the server's own stream type, each with a load client as its handler. Other threads talk to it
// only through Post, as they would to a server loop.
using System.Net;
using EpollServer.Diagnostics;
using EpollServer.Net;
using EpollServer.Reactor;
using Microsoft.Extensions.Logging.Abstractions;

namespace EpollServer.LoadTests.Engine;

internal sealed class ClientLoop : IDisposable
{
    private const int ConnectsInFlight = 128;   // below the usual listen backlog, so no SYN is dropped and retried

    private readonly Thread _thread;
    private readonly List<Action> _afterBatch = [];

    private ClientLoop(int index, LoopContext context, LoadStats stats, RunClock clock, IPEndPoint target)
    {
        Target = target;
        Index = index;
        Clock = clock;
        Context = context;
        Stats = stats;
        _thread = new Thread(context.Loop.Run) { Name = $"load-loop-{index}", IsBackground = true };
        // Before the context's flush: what the pacer writes in this batch goes out in this batch.
        context.Loop.AddBatchHook(RunAfterBatch, first: true);
    }

    public int Index { get; }

    public LoopContext Context { get; }

    public EventLoop Loop => Context.Loop;

    public LoadStats Stats { get; }

    public RunClock Clock { get; }

    public IPEndPoint Target { get; }

    // Clients that have become Ready (connected; chat: welcomed). Written by this loop, read by the orchestrator.
    public int ReadyClients;

    // Every client of this loop, in the order they were added (the open model hands requests out round-robin).
    public List<LoadClient> Clients { get; } = [];

    public static ClientLoop Create(int index, LoadPlan plan, RunClock clock, int timelineSeconds)
    {
        LoopContext context = LoopContext.Create(GeneratorOptions(plan), NullLogger.Instance, TimeProvider.System);
        return new ClientLoop(index, context, new LoadStats(clock, timelineSeconds), clock, plan.Target);
    }

    // The generator's connections: rings that take the requests in flight with room to spare (they drain as they
    // are sent, and an idle client holds none), no server-side timeouts, the plan's connect timeout.
    private static ServerOptions GeneratorOptions(LoadPlan plan)
    {
        long inFlight = (long)plan.Size * Math.Clamp(plan.OpenModel ? plan.MaxOutstanding : plan.Depth, 1, 64);
        int output = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)Math.Clamp(inFlight * 2, 16 * 1024, 4 * 1024 * 1024));
        return new ServerOptions
        {
            InputBufferSize = 64 * 1024,
            OutputBufferSize = output,
            IdleTimeout = TimeSpan.Zero,
            FirstByteTimeout = TimeSpan.Zero,
            RequestTimeout = TimeSpan.Zero,
            ConnectTimeout = plan.ConnectTimeout,
            MaxPooledBuffers = Math.Max(64, plan.Connections),
        };
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
                loops.Add(Create(i, plan, clock, timelineSeconds));
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
                client.Connect(client.Target ?? Target);
            }
        };
    }

    public void Post(Action work) => Loop.Post(work);

    // Work that runs after every batch of events (the open model's pacer, connect pacing); loop thread only.
    public void AddAfterBatch(Action work) => _afterBatch.Add(work);

    // Loop thread: closes every client (and any connection still lingering) and ends Run; Join waits for the thread.
    public void Shutdown()
    {
        foreach (LoadClient client in Clients)
        {
            if (client.Owed > 0)
                Stats.RecordError(LoadError.Unanswered, Loop.Now, client.Owed);
            client.CloseNow();
        }
        Context.CloseAll();
        // What the connections counted on the wire, for the run's totals.
        Stats.BytesSent = Context.Counters[Counter.BytesSent];
        Stats.BytesReceived = Context.Counters[Counter.BytesReceived];
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

    public void Dispose() => Context.Dispose();
}
