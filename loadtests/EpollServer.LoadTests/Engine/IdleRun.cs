// Idle connections (C10K and up): open N connections that say nothing, then ask the server's process what they
// cost: RSS per connection over its idle baseline, fds in /proc and in lsof. Then every connection sends one small
// echo (all must answer: idle is not dead), all close, and the server's fd count must come back to its baseline.
using System.Diagnostics;

namespace EpollServer.LoadTests.Engine;

internal sealed class IdleRun
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan FdReturnTimeout = TimeSpan.FromSeconds(5);

    private readonly LoadPlan _plan;

    public IdleRun(LoadPlan plan)
    {
        _plan = plan;
    }

    public Action<RunProgress>? Progress { get; init; }

    public RunResult Execute(string server)
    {
        Diagnostics.FdLimit.RaiseToHard();
        var clock = new RunClock(TimeSpan.Zero, TimeSpan.FromHours(1));
        var format = MessageFormat.Echo(2);
        List<ClientLoop> loops = ClientLoop.CreateAll(_plan, clock, 4,
            (loop, _) => new RequestReplyClient(loop, format, depth: 0, maxOutstanding: 1));
        try
        {
            return Measure(server, loops, clock);
        }
        finally
        {
            ClientLoop.DisposeAll(loops);
        }
    }

    private RunResult Measure(string server, List<ClientLoop> loops, RunClock clock)
    {
        ProcessSample? baseline = Sample();
        var watch = Stopwatch.StartNew();
        ClientLoop.StartAll(loops);
        int ready = WaitUntil(() => ClientLoop.ReadyTotal(loops) + ClientLoop.ConnectFailuresTotal(loops) >= _plan.Connections, _plan.ConnectTimeout, "connect", loops, watch);
        Thread.Sleep(Settle);
        ProcessSample? loaded = Sample();
        int? lsof = _plan.ServerPid is int pid ? ProcessProbe.LsofFdCount(pid) : null;

        // Every idle connection answers one echo.
        clock.Begin(Stopwatch.GetTimestamp());
        using var issued = new CountdownEvent(loops.Count);   // Outstanding means nothing until every loop has issued
        foreach (ClientLoop loop in loops)
        {
            loop.Post(() =>
            {
                foreach (LoadClient client in loop.Clients)
                {
                    if (client.IsOpen)
                        ((RequestReplyClient)client).Issue(loop.Loop.Now);
                }
                issued.Signal();
            });
        }
        WaitUntil(() => issued.IsSet && loops.Sum(l => Volatile.Read(ref l.Stats.Outstanding)) <= 0, ProbeTimeout, "probe", loops, watch);
        ClientLoop.StopAll(loops);
        ProcessSample? after = WaitForFds(baseline);

        var total = new LoadStats(clock, 4);
        foreach (ClientLoop loop in loops)
            total.Add(loop.Stats);
        var result = new RunResult
        {
            Scenario = "idle",
            Server = server,
            Plan = _plan,
            Stats = total,
            ConnectionsRequested = _plan.Connections,
            ConnectionsReady = ready,
            ServerBefore = baseline,
            ServerAfter = after,
        };
        result.Checks.Add(new RunCheck("connected", ready == _plan.Connections, $"{ready} of {_plan.Connections}"));
        result.Checks.Add(new RunCheck("probes answered", total.Completed == ready && total.ErrorTotal == 0,
            $"{total.Completed} of {ready}"));
        if (baseline is { } b && loaded is { } l)
        {
            double perConnection = ready == 0 ? 0 : (l.RssBytes - b.RssBytes) / (double)ready;
            result.Figures.Add(("server RSS idle (MiB)", $"{b.RssBytes / 1048576.0:0.0}"));
            result.Figures.Add(("server RSS with connections (MiB)", $"{l.RssBytes / 1048576.0:0.0}"));
            result.Figures.Add(("bytes per idle connection", $"{perConnection:0}"));
            result.Figures.Add(("server fds idle / with connections (/proc)", $"{b.Fds} / {l.Fds}"));
            if (lsof is int count)
                result.Figures.Add(("server fds with connections (lsof)", count.ToString()));
            result.PerConnectionBytes = perConnection;
        }
        if (baseline is { } before && after is { } end)
        {
            result.Figures.Add(("server fds after close (/proc)", end.Fds.ToString()));
            result.Checks.Add(new RunCheck("fds back to baseline", end.Fds <= before.Fds, $"{before.Fds} -> {end.Fds}"));
        }
        return result;
    }

    private ProcessSample? Sample() => _plan.ServerPid is int pid ? ProcessProbe.Sample(pid) : null;

    private ProcessSample? WaitForFds(ProcessSample? baseline) =>
        _plan.ServerPid is int pid && baseline is { } b ? ProcessProbe.WaitForFds(pid, b.Fds, FdReturnTimeout) : Sample();

    private int WaitUntil(Func<bool> done, TimeSpan timeout, string phase, List<ClientLoop> loops, Stopwatch watch)
    {
        long deadline = Stopwatch.GetTimestamp() + RunClock.Ticks(timeout);
        while (!done() && Stopwatch.GetTimestamp() < deadline)
        {
            Progress?.Invoke(new RunProgress(phase, watch.Elapsed.TotalSeconds, 0, loops.Sum(l => Volatile.Read(ref l.Stats.Completed)),
                loops.Sum(l => l.Stats.ErrorTotal), 0, ClientLoop.ReadyTotal(loops)));
            Thread.Sleep(50);
        }
        return ClientLoop.ReadyTotal(loops);
    }
}
