// Runs one time-based scenario on the run pipeline: connect, start the clock, warm up, measure (the server and this
// process sampled at the window's edges for CPU), drain what is owed, and build the result.
using System.Diagnostics;

namespace EpollServer.LoadTests.Engine;

internal sealed class TimedRun
{
    private readonly LoadPlan _plan;
    private readonly RunClock _clock;

    public TimedRun(LoadPlan plan)
    {
        _plan = plan;
        _clock = new RunClock(plan.RampUp + plan.Warmup, plan.Duration);
    }

    public RunClock Clock => _clock;

    // Loop thread, when the clock starts: what the scenario does then (default: every client's Start).
    public Action<ClientLoop>? OnBegin { get; init; }

    public Action<RunProgress>? Progress { get; init; }

    public RunResult Execute(string scenario, string server, Func<ClientLoop, int, LoadClient> createClient)
    {
        int timelineSeconds = _clock.TotalSeconds + (int)Math.Ceiling(_plan.DrainTimeout.TotalSeconds) + 2;
        using var pipeline = new RunPipeline(_plan, _clock, timelineSeconds, createClient, Progress);
        int ready = pipeline.Connect();
        ProcessSample? serverBefore = pipeline.SampleServer();

        _clock.Begin(Stopwatch.GetTimestamp());
        foreach (ClientLoop loop in pipeline.Loops)
            loop.Post(() => Begin(loop, pipeline.Loops.Count));

        pipeline.SleepUntil("warm-up", _clock.MeasureStart);
        ProcessSample? serverAtStart = pipeline.SampleServer();
        ProcessSample? generatorAtStart = ProcessProbe.Sample(Environment.ProcessId);
        pipeline.SleepUntil("measure", _clock.MeasureEnd);
        ProcessSample? serverAtEnd = pipeline.SampleServer();
        ProcessSample? generatorAtEnd = ProcessProbe.Sample(Environment.ProcessId);

        // After the window nothing new is issued: wait for what is owed, up to the drain deadline.
        pipeline.WaitUntil("drain", () => pipeline.Outstanding <= 0, _plan.DrainTimeout);
        RunResult result = pipeline.Finish(scenario, server, serverBefore, serverAtEnd,
            serverAtStart is { } s0 && serverAtEnd is { } s1 ? ProcessProbe.CpuShare(s0, s1) : null,
            generatorAtStart is { } g0 && generatorAtEnd is { } g1 ? ProcessProbe.CpuShare(g0, g1) : null);
        int upFront = pipeline.Loops.Sum(l => l.Clients.Count(c => c.ConnectsUpFront));
        if (ready < upFront)
            result.Checks.Add(new RunCheck("connections", false, $"{ready} of {upFront} connected within {_plan.ConnectTimeout.TotalSeconds:0} s"));
        return result;
    }

    private void Begin(ClientLoop loop, int loops)
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
            int global = i * loops + loop.Index;
            loop.Loop.Schedule(_plan.RampUp * global / _plan.Connections, client.Start);
        }
    }
}
