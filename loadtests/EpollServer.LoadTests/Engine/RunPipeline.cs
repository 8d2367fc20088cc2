// The one pipeline every run goes through, timed (TimedRun: the scenarios, the bench, the soak) or idle (IdleRun):
// make the loops and clients, connect them (untimed, paced), then phases that wait, each with a deadline, while the
// progress line and the server's once-a-second samples are taken, and finally stop the loops and merge their stats
// into one RunResult. A dead server cannot hang the generator: every wait is bounded.
using System.Diagnostics;

namespace EpollServer.LoadTests.Engine;

internal readonly record struct RunProgress(string Phase, double Elapsed, double Total, long Completed, long Errors, double Rate, int Ready);

internal sealed class RunPipeline : IDisposable
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    private readonly LoadPlan _plan;
    private readonly Action<RunProgress>? _progress;
    private readonly List<(double Second, ProcessSample Sample)> _serverTimeline = [];
    private long _lastReport;   // 0: the first tick reports (long.MinValue would overflow `now - _lastReport` and never report)
    private long _nextServerSample;
    private long _lastCompleted;
    private long _lastTicks;

    public RunPipeline(LoadPlan plan, RunClock clock, int timelineSeconds, Func<ClientLoop, int, LoadClient> createClient,
        Action<RunProgress>? progress)
    {
        _plan = plan;
        _progress = progress;
        Clock = clock;
        Diagnostics.FdLimit.RaiseToHard();
        Loops = ClientLoop.CreateAll(plan, clock, timelineSeconds, createClient);
        try
        {
            ClientLoop.StartAll(Loops);
        }
        catch
        {
            ClientLoop.DisposeAll(Loops);
            throw;
        }
    }

    public RunClock Clock { get; }

    public List<ClientLoop> Loops { get; }

    // Connections open when the connect phase ended.
    public int Ready { get; private set; }

    public string Phase { get; private set; } = "connect";

    // Waits until every client that connects up front has connected or failed, within the plan's connect timeout.
    public int Connect()
    {
        int expected = Loops.Sum(l => l.Clients.Count(c => c.ConnectsUpFront));
        WaitUntil("connect", () => ClientLoop.ReadyTotal(Loops) + ClientLoop.ConnectFailuresTotal(Loops) >= expected, _plan.ConnectTimeout);
        return Ready = ClientLoop.ReadyTotal(Loops);
    }

    public ProcessSample? SampleServer() => ProcessProbe.SampleServer(_plan);

    // Until `done` holds or `timeout` passes, reporting progress as it waits; true if `done` held.
    public bool WaitUntil(string phase, Func<bool> done, TimeSpan timeout)
    {
        Phase = phase;
        long deadline = Stopwatch.GetTimestamp() + RunClock.Ticks(timeout);
        while (!done())
        {
            if (Stopwatch.GetTimestamp() >= deadline)
                return false;
            Tick();
            Thread.Sleep(10);
        }
        return true;
    }

    // Until the monotonic clock reaches `ticks`, reporting progress as it waits.
    public void SleepUntil(string phase, long ticks)
    {
        Phase = phase;
        while (Stopwatch.GetTimestamp() is long now && now < ticks)
        {
            Tick();
            long slice = Math.Min(RunClock.Ticks(ProgressInterval), ticks - now);
            Thread.Sleep(TimeSpan.FromTicks(slice * TimeSpan.TicksPerSecond / RunClock.Frequency));
        }
    }

    // What is still owed: requests issued and not yet answered, over every loop.
    public long Outstanding => Loops.Sum(l => Volatile.Read(ref l.Stats.Outstanding));

    // Stops the loops and builds the result from every loop's stats; the caller adds its checks and figures.
    public RunResult Finish(string scenario, string server, ProcessSample? serverBefore, ProcessSample? serverAfter,
        double? serverCpu = null, double? generatorCpu = null)
    {
        ClientLoop.StopAll(Loops);
        var total = new LoadStats(Clock, Loops[0].Stats.CompletedPerSecond.Length);
        foreach (ClientLoop loop in Loops)
            total.Add(loop.Stats);
        var result = new RunResult
        {
            Scenario = scenario,
            Server = server,
            Plan = _plan,
            Stats = total,
            WindowSeconds = Clock.Begun ? Clock.WindowSeconds : 0,
            ConnectionsRequested = _plan.Connections,
            ConnectionsReady = Ready,
            ServerBefore = serverBefore,
            ServerAfter = serverAfter,
            ServerCpu = serverCpu,
            GeneratorCpu = generatorCpu,
            GeneratorThreads = Loops.Count,
        };
        result.ServerTimeline.AddRange(_serverTimeline);
        return result;
    }

    public void Dispose() => ClientLoop.DisposeAll(Loops);

    // Every wait comes here: the progress line four times a second, and the server sampled once a second.
    private void Tick()
    {
        long now = Stopwatch.GetTimestamp();
        if (_plan.ServerPid is not null && now >= _nextServerSample && SampleServer() is { } sample)
        {
            _nextServerSample = now + Stopwatch.Frequency;
            _serverTimeline.Add((Elapsed(now), sample));
        }
        if (_progress is null || now - _lastReport < RunClock.Ticks(ProgressInterval))
            return;
        _lastReport = now;
        long completed = Loops.Sum(l => Volatile.Read(ref l.Stats.Completed));
        long errors = Loops.Sum(l => l.Stats.ErrorTotal);
        double rate = _lastTicks == 0 ? 0 : (completed - _lastCompleted) / ((now - _lastTicks) / (double)RunClock.Frequency);
        _lastCompleted = completed;
        _lastTicks = now;
        double total = (_plan.RampUp + _plan.Warmup + _plan.Duration).TotalSeconds;
        int ready = Phase == "connect" ? ClientLoop.ReadyTotal(Loops) : Ready;
        _progress(new RunProgress(Phase, Elapsed(now), total, completed, errors, rate, ready));
    }

    // Seconds since the clock began; 0 while connecting.
    private double Elapsed(long now) => Clock.Begun ? Math.Max(0, (now - Clock.Start) / (double)RunClock.Frequency) : 0;
}
