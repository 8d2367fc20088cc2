// A run driven by wrk (Debian `wrk`), the HTTP load generator people trust, instead of this engine's own clients:
// a warm-up run, then the measured run, with the server sampled at its edges (CPU) and once a second (timeline).
// wrk inherits the generator's CPU pinning from the thread that starts it, as the engine's own loops do. Depth
// above 1 pipelines that many requests per write (wrk's pipeline.lua pattern). A Lua `done` hook prints wrk's
// summary and its latency percentiles on a fine ladder; the report's histogram is rebuilt from that ladder, so its
// percentiles are wrk's own (wrk times a pipelined batch as one sample, from its first request to its last reply).
using System.Globalization;
using System.Text.RegularExpressions;
using EpollServer.LoadTests.Bench;

namespace EpollServer.LoadTests.Engine;

internal sealed partial class WrkRun
{
    private static readonly double[] Ladder =
    [
        .. Enumerable.Range(1, 99).Select(p => (double)p),
        .. Enumerable.Range(1, 9).Select(i => 99 + i / 10.0),
        .. Enumerable.Range(1, 9).Select(i => 99.9 + i / 100.0),
        99.999, 100,
    ];

    private readonly LoadPlan _plan;
    private readonly string _path;

    public WrkRun(LoadPlan plan, string path)
    {
        _plan = plan;
        _path = path;
    }

    public Action<RunProgress>? Progress { get; init; }

    // The last wrk command line run (the measured run's, once Execute is done).
    public string Command { get; private set; } = "";

    public RunResult Execute(string scenario, string server)
    {
        string script = WriteScript();
        try
        {
            if (_plan.Warmup > TimeSpan.Zero)
                RunWrk(script, _plan.Warmup, "warm-up", null);
            // wrk's own CPU is taken over the same window as the server's: from just before it starts to just after it
            // has been reaped (its getrusage children total; nothing else of ours exits in between).
            ProcessSample? before = SampleServer();
            ProcessSample wrkBefore = ProcessProbe.ReapedChildren();
            var timeline = new List<(double, ProcessSample)>();
            WrkOutcome outcome = RunWrk(script, _plan.Duration, "measure", timeline);
            ProcessSample wrkAfter = ProcessProbe.ReapedChildren();
            ProcessSample? after = SampleServer();
            return Result(scenario, server, outcome, before, after, timeline, ProcessProbe.CpuShare(wrkBefore, wrkAfter));
        }
        finally
        {
            File.Delete(script);
        }
    }

    private RunResult Result(string scenario, string server, WrkOutcome outcome, ProcessSample? before, ProcessSample? after,
        List<(double, ProcessSample)> timeline, double generatorCpu)
    {
        var stats = new LoadStats(new RunClock(TimeSpan.Zero, _plan.Duration), 0)
        {
            Completed = outcome.Requests,
            CompletedInWindow = outcome.Requests,
            BytesReceived = outcome.Bytes,
        };
        stats.Errors[(int)LoadError.ConnectFailed] = outcome.ConnectErrors;
        stats.Errors[(int)LoadError.Reset] = outcome.ReadErrors + outcome.WriteErrors;
        stats.Errors[(int)LoadError.Mismatch] = outcome.StatusErrors;
        stats.Errors[(int)LoadError.Unanswered] = outcome.Timeouts;
        RecordLadder(stats, outcome);
        var result = new RunResult
        {
            Scenario = scenario,
            Server = server,
            Plan = _plan,
            Stats = stats,
            WindowSeconds = outcome.Seconds,
            ConnectionsRequested = _plan.Connections,
            ConnectionsReady = _plan.Connections - (int)Math.Min(outcome.ConnectErrors, _plan.Connections),
            ServerBefore = before,
            ServerAfter = after,
            ServerCpu = before is { } b && after is { } a ? ProcessProbe.CpuShare(b, a) : null,
            GeneratorCpu = generatorCpu,
            GeneratorThreads = _plan.Threads,
        };
        result.ServerTimeline.AddRange(timeline);
        result.Figures.Add(("generator", $"{Version.Value}, {_plan.Threads} thread(s), {_plan.Connections} connections, {_plan.Depth} request(s) per write; generator CPU is wrk's process"));
        result.Figures.Add(("latency", _plan.Depth > 1 ? "wrk's, per write: from its first request to its last reply" : "wrk's, per request"));
        result.Figures.Add(("wrk command", Command));
        result.Figures.Add(("wrk exit code", outcome.ExitCode.ToString(CultureInfo.InvariantCulture)));
        result.Checks.Add(new RunCheck("wrk finished", outcome.ExitCode == 0 && outcome.Seconds > 0, outcome.Detail));
        return result;
    }

    // wrk's percentiles as a histogram: each ladder step's share of the samples at that step's value, so that
    // every percentile the report reads comes back as the value wrk gave for it.
    private void RecordLadder(LoadStats stats, WrkOutcome outcome)
    {
        long samples = Math.Max(Ladder.Length, outcome.Requests / Math.Max(1, _plan.Depth));
        double previous = 0;
        for (int i = 0; i < Ladder.Length; i++)
        {
            double percentile = Ladder[i];
            if (!outcome.Percentiles.TryGetValue(i + 1, out long micros))
                continue;
            long count = Math.Max(1, (long)Math.Round(samples * (percentile - previous) / 100));
            stats.Latency.RecordValueWithCount(Math.Clamp(micros * 1000, 0, LoadStats.LatencyCeilingNs), count);
            previous = percentile;
        }
    }

    private ProcessSample? SampleServer() => ProcessProbe.SampleServer(_plan);

    // wrk's version line ("wrk 4.2.0 [epoll] Copyright ..."), as `wrk -v` prints it, for the report's builds.
    public static readonly Lazy<string> Version = new(() => Bench.ProcessBuild.FirstLine(["wrk", "-v"]).Split(" Copyright")[0]);

    private WrkOutcome RunWrk(string script, TimeSpan duration, string phase, List<(double, ProcessSample)>? timeline)
    {
        int seconds = Math.Max(1, (int)Math.Ceiling(duration.TotalSeconds));
        string url = $"http://{Host()}:{_plan.Target.Port}{_path}";
        ChildProcess wrk;
        try
        {
            string[] command = ["wrk", $"-t{_plan.Threads}", $"-c{_plan.Connections}", $"-d{seconds}s", "--timeout", "5s", "-s", script, url];
            Command = Bench.ProcessBuild.Quote(command);
            wrk = ChildProcess.Start(command);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new InvalidOperationException("wrk is not installed (Debian: apt-get install wrk); the HTTP cases need it");
        }
        using (wrk)
        {
            var deadline = TimeSpan.FromSeconds(seconds + 30);
            long started = Environment.TickCount64;
            while (!wrk.WaitForExit(TimeSpan.FromSeconds(1)))
            {
                double elapsed = (Environment.TickCount64 - started) / 1000.0;
                if (timeline is not null && SampleServer() is { } sample)
                    timeline.Add((elapsed, sample));
                Progress?.Invoke(new RunProgress(phase, elapsed, seconds, 0, 0, 0, _plan.Connections));
                if (elapsed > deadline.TotalSeconds)
                    return WrkOutcome.Failed($"wrk ran past {deadline.TotalSeconds:0} s and was stopped: {wrk.RecentOutput()}");
            }
            return WrkOutcome.Parse(wrk.Lines, wrk.ExitCode);
        }
    }

    private string Host() => _plan.Target.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
        ? $"[{_plan.Target.Address}]" : _plan.Target.Address.ToString();

    private string WriteScript()
    {
        string path = Path.Combine(Path.GetTempPath(), $"epollserver-load-wrk-{Environment.ProcessId}-{Guid.NewGuid():N}.lua");
        string ladder = string.Join(", ", Ladder.Select(p => p.ToString(CultureInfo.InvariantCulture)));
        // Without a `request` function wrk sends one prepared request per write (its fastest, static mode).
        string pipeline = _plan.Depth <= 1 ? "" : $$"""
            init = function(args)
               local r = {}
               for i = 1, {{_plan.Depth}} do r[i] = wrk.format(nil, "{{_path}}") end
               req = table.concat(r)
            end
            request = function() return req end

            """;
        File.WriteAllText(path, pipeline + $$"""
            done = function(summary, latency, requests)
               local e = summary.errors
               io.write(string.format("wrk-summary %d %d %d %d %d %d %d %d\n", summary.duration, summary.requests, summary.bytes,
                  e.connect, e.read, e.write, e.status, e.timeout))
               for i, p in ipairs({ {{ladder}} }) do
                  io.write(string.format("wrk-percentile %d %d\n", i, latency:percentile(p)))
               end
            end
            """);
        return path;
    }

    private sealed partial record WrkOutcome(long Requests, long Bytes, double Seconds, long ConnectErrors, long ReadErrors, long WriteErrors,
        long StatusErrors, long Timeouts, Dictionary<int, long> Percentiles, int ExitCode, string Detail)
    {
        public static WrkOutcome Failed(string detail) => new(0, 0, 0, 0, 0, 0, 0, 0, [], -1, detail);

        public static WrkOutcome Parse(IReadOnlyList<string> lines, int exitCode)
        {
            Match summary = lines.Select(l => SummaryLine().Match(l)).FirstOrDefault(m => m.Success) ?? Match.Empty;
            if (!summary.Success)
                return Failed($"wrk exited {exitCode} without its summary: {string.Join(" | ", lines.TakeLast(5))}") with { ExitCode = exitCode };
            long Field(int i) => long.Parse(summary.Groups[i].Value, CultureInfo.InvariantCulture);
            var percentiles = new Dictionary<int, long>();   // by place on the ladder, from 1
            foreach (Match m in lines.Select(l => PercentileLine().Match(l)).Where(m => m.Success))
                percentiles[int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)] = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            return new WrkOutcome(Field(2), Field(3), Field(1) / 1e6, Field(4), Field(5), Field(6), Field(7), Field(8), percentiles, exitCode,
                $"{Field(2)} requests in {Field(1) / 1e6:0.00} s; errors: connect {Field(4)}, read {Field(5)}, write {Field(6)}, " +
                $"status {Field(7)}, timeout {Field(8)}");
        }

        [GeneratedRegex(@"^wrk-summary (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$")]
        private static partial Regex SummaryLine();

        [GeneratedRegex(@"^wrk-percentile (\d+) (\d+)$")]
        private static partial Regex PercentileLine();
    }
}
