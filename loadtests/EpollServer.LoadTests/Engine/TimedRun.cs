// Runs one time-based scenario: make the loops and clients, connect (untimed, paced), start the clock, sample the
// server at the window's edges, drain, stop, merge. Everything is bounded: the connect phase, the window, the
// drain and the loop shutdown each have a deadline, so a dead server cannot hang the generator.
using System.Diagnostics;

namespace EpollServer.LoadTests.Engine;

internal readonly record struct RunProgress(string Phase, double Elapsed, double Total, long Completed, long Errors, double Rate, int Ready);

internal sealed class TimedRun
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    private readonly LoadPlan _plan;
    private readonly RunClock _clock;
    private List<ClientLoop> _loops = [];

    public TimedRun(LoadPlan plan)
    {
        _plan = plan;
        _clock = new RunClock(plan.RampUp + plan.Warmup, plan.Duration);
    }

    public RunClock Clock => _clock;

    public IReadOnlyList<ClientLoop> Loops => _loops;

    // Loop thread, when the clock starts: what the scenario does then (default: every client's Start).
    public Action<ClientLoop>? OnBegin { get; init; }

    public Action<RunProgress>? Progress { get; init; }

    public RunResult Execute(string scenario, string server, Func<ClientLoop, int, LoadClient> createClient)
    {
        Diagnostics.FdLimit.RaiseToHard();
        int timelineSeconds = _clock.TotalSeconds + (int)Math.Ceiling(_plan.DrainTimeout.TotalSeconds) + 2;
        _loops = ClientLoop.CreateAll(_plan, _clock, timelineSeconds, createClient);
        try
        {
            ClientLoop.StartAll(_loops);
            return Measure(scenario, server);
        }
        finally
        {
            ClientLoop.DisposeAll(_loops);
        }
    }

    private RunResult Measure(string scenario, string server)
    {
        var watch = Stopwatch.StartNew();
        int ready = WaitForConnections(watch);
        ProcessSample? serverBefore = SampleServer();

        _clock.Begin(Stopwatch.GetTimestamp());
        foreach (ClientLoop loop in _loops)
            loop.Post(() => Begin(loop));

        SleepUntil(_clock.MeasureStart, "warm-up", watch, ready);
        ProcessSample? serverAtStart = SampleServer();
        ProcessSample? generatorAtStart = ProcessProbe.Sample(Environment.ProcessId);
        SleepUntil(_clock.MeasureEnd, "measure", watch, ready);
        ProcessSample? serverAtEnd = SampleServer();
        ProcessSample? generatorAtEnd = ProcessProbe.Sample(Environment.ProcessId);

        Drain(watch, ready);
        ClientLoop.StopAll(_loops);

        var total = new LoadStats(_clock, _loops[0].Stats.CompletedPerSecond.Length);
        foreach (ClientLoop loop in _loops)
            total.Add(loop.Stats);
        var result = new RunResult
        {
            Scenario = scenario,
            Server = server,
            Plan = _plan,
            Stats = total,
            WindowSeconds = _clock.WindowSeconds,
            ConnectionsRequested = _plan.Connections,
            ConnectionsReady = ready,
            ServerBefore = serverBefore,
            ServerAfter = serverAtEnd,
            ServerCpu = serverAtStart is { } s0 && serverAtEnd is { } s1 ? ProcessProbe.CpuShare(s0, s1) : null,
            GeneratorCpu = generatorAtStart is { } g0 && generatorAtEnd is { } g1 ? ProcessProbe.CpuShare(g0, g1) : null,
        };
        int upFront = _loops.Sum(l => l.Clients.Count(c => c.ConnectsUpFront));
        if (ready < upFront)
            result.Checks.Add(new RunCheck("connections", false, $"{ready} of {upFront} connected within {_plan.ConnectTimeout.TotalSeconds:0} s"));
        return result;
    }

    private ProcessSample? SampleServer() => _plan.ServerPid is int pid ? ProcessProbe.Sample(pid) : null;

    private void Begin(ClientLoop loop)
    {
        if (OnBegin is not null)
        {
            OnBegin(loop);
            return;
        }
        if (_plan.RampUp <= TimeSpan.Zero || _plan.OpenModel)
        {
            foreach (LoadClient client in loop.Clients)
                client.Start();
            return;
        }
        // Closed model with a ramp: connection i starts i/N of the way through the ramp-up.
        for (int i = 0; i < loop.Clients.Count; i++)
        {
            LoadClient client = loop.Clients[i];
            int global = i * _loops.Count + loop.Index;
            loop.Loop.Schedule(_plan.RampUp * global / _plan.Connections, client.Start);
        }
    }

    private int WaitForConnections(Stopwatch watch)
    {
        int expected = 0;
        foreach (ClientLoop loop in _loops)
            expected += loop.Clients.Count(c => c.ConnectsUpFront);
        long deadline = Stopwatch.GetTimestamp() + RunClock.Ticks(_plan.ConnectTimeout);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            int ready = ClientLoop.ReadyTotal(_loops);
            Report("connect", watch, ready);
            if (ready + ClientLoop.ConnectFailuresTotal(_loops) >= expected)
                break;
            Thread.Sleep(20);
        }
        return ClientLoop.ReadyTotal(_loops);
    }

    private void SleepUntil(long ticks, string phase, Stopwatch watch, int ready)
    {
        long lastReport = 0;
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            if (now >= ticks)
                return;
            if (now - lastReport >= RunClock.Ticks(ProgressInterval))
            {
                Report(phase, watch, ready);
                lastReport = now;
            }
            Thread.Sleep(TimeSpan.FromTicks(Math.Min(RunClock.Ticks(ProgressInterval), ticks - now) * TimeSpan.TicksPerSecond / RunClock.Frequency));
        }
    }

    // After the window: nothing new is issued; wait for what is owed, up to the drain deadline.
    private void Drain(Stopwatch watch, int ready)
    {
        long deadline = Stopwatch.GetTimestamp() + RunClock.Ticks(_plan.DrainTimeout);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (_loops.Sum(l => Volatile.Read(ref l.Stats.Outstanding)) <= 0)
                return;
            Report("drain", watch, ready);
            Thread.Sleep(10);
        }
    }

    private long _lastCompleted;
    private long _lastTicks;

    private void Report(string phase, Stopwatch watch, int ready)
    {
        if (Progress is null)
            return;
        long completed = _loops.Sum(l => Volatile.Read(ref l.Stats.Completed));
        long errors = _loops.Sum(l => l.Stats.ErrorTotal);
        long now = Stopwatch.GetTimestamp();
        double rate = _lastTicks == 0 ? 0 : (completed - _lastCompleted) / ((now - _lastTicks) / (double)RunClock.Frequency);
        _lastCompleted = completed;
        _lastTicks = now;
        double total = (_plan.RampUp + _plan.Warmup + _plan.Duration).TotalSeconds;
        double elapsed = _clock.Begun ? Math.Max(0, (now - _clock.Start) / (double)RunClock.Frequency) : 0;
        Progress(new RunProgress(phase, elapsed, total, completed, errors, rate, phase == "connect" ? ClientLoop.ReadyTotal(_loops) : ready));
    }
}
