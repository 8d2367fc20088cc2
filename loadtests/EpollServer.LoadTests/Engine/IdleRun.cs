// Idle connections (C10K and up), on the run pipeline: open N connections that say nothing, then ask the server's
// process what they cost: RSS per connection over its idle baseline, fds in /proc and in lsof. Then every connection
// sends one small echo (all must answer: idle is not dead), all close, and the server's fd count must come back to
// its baseline.
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
        var clock = new RunClock(TimeSpan.Zero, TimeSpan.FromHours(1));
        var format = MessageFormat.Echo(2);
        ProcessSample? baseline = _plan.ServerPid is int pid ? ProcessProbe.Sample(pid) : null;
        using var pipeline = new RunPipeline(_plan, clock, 4, (loop, _) => new RequestReplyClient(loop, format, depth: 0, maxOutstanding: 1), Progress);
        int ready = pipeline.Connect();
        pipeline.SleepUntil("settle", Stopwatch.GetTimestamp() + RunClock.Ticks(Settle));
        ProcessSample? loaded = pipeline.SampleServer();
        int? lsof = _plan.ServerPid is int serverPid ? ProcessProbe.LsofFdCount(serverPid) : null;

        // Every idle connection answers one echo.
        clock.Begin(Stopwatch.GetTimestamp());
        using var issued = new CountdownEvent(pipeline.Loops.Count);   // Outstanding means nothing until every loop has issued
        foreach (ClientLoop loop in pipeline.Loops)
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
        pipeline.WaitUntil("probe", () => issued.IsSet && pipeline.Outstanding <= 0, ProbeTimeout);
        RunResult result = pipeline.Finish("idle", server, baseline, null);
        ProcessSample? after = _plan.ServerPid is int p && baseline is { } b0 ? ProcessProbe.WaitForFds(p, b0.Fds, FdReturnTimeout) : pipeline.SampleServer();
        Judge(result, ready, baseline, loaded, after, lsof);
        return result;
    }

    private void Judge(RunResult result, int ready, ProcessSample? baseline, ProcessSample? loaded, ProcessSample? after, int? lsof)
    {
        result.ServerAfter = after;
        result.Checks.Add(new RunCheck("connected", ready == _plan.Connections, $"{ready} of {_plan.Connections}"));
        result.Checks.Add(new RunCheck("probes answered", result.Stats.Completed == ready && result.Stats.ErrorTotal == 0,
            $"{result.Stats.Completed} of {ready}"));
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
    }
}
