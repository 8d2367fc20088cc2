// `epollserver-load soak`: mixed load for a long time (default 10 minutes) against one EpollServer: round trips of
// two sizes, pipelined, connect/close churn, idle connections, and rude peers that reset mid-burst. The server's
// RSS and /proc fd count are sampled every second; the soak fails on any load error, on RSS or fds trending up
// (the last third of the samples against the first, after warm-up), or on fds not back to baseline at the end.
using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using EpollServer.LoadTests.Bench;
using EpollServer.LoadTests.Engine;
using HdrHistogram;

namespace EpollServer.LoadTests.Cli;

internal static class SoakCommand
{
    private static readonly Option<double> Duration = new("--duration") { Description = "seconds of soak after warm-up", DefaultValueFactory = _ => 600 };
    private static readonly Option<double> Warmup = new("--warmup") { Description = "seconds before sampling counts (the runtime's heap settles)", DefaultValueFactory = _ => 10 };
    private static readonly Option<string> Out = new("--out", "-o") { Description = "folder for soak.md, soak.csv, soak.html and its charts as PNG", DefaultValueFactory = _ => "loadtests/results/soak" };

    // The mix, by connection: what each slice of the clients does.
    private const int Echo64 = 8, Echo4K = 4, Churn = 4, Idle = 200, Rude = 2;

    // RSS may grow by 10% + 4 MiB and fds by 5% + 8 between the first and last third before it counts as a trend.
    private const double RssSlack = 0.10, FdSlack = 0.05;
    private const long RssAllowance = 4 << 20;
    private const int FdAllowance = 8;

    // .NET sizes the gen0 budget from the L3 cache (266 MB on the machine this was written on), so under churn the
    // RSS of a healthy server climbs by that much of garbage before the first collection, and a short soak would
    // read that as a leak. A 16 MiB budget makes garbage go within seconds: what still trends up is live memory.
    private static readonly Dictionary<string, string> GcEnvironment = new() { ["DOTNET_GCgen0size"] = "0x1000000" };

    public static Command Create()
    {
        var command = new Command("soak", "Mixed load for a long time; fail if the server's RSS or fds trend up");
        foreach (Option option in new Option[] { Duration, Warmup, Out, LoadOptions.ServerCpus, LoadOptions.GeneratorCpus })
            command.Options.Add(option);
        command.SetAction(parsed => Run(parsed));
        return command;
    }

    private static int Run(ParseResult parsed)
    {
        double duration = parsed.GetValue(Duration), warmup = parsed.GetValue(Warmup);
        if (duration is < 5 or > 7 * 86_400 || warmup < 0)
        {
            Console.Error.WriteLine("epollserver-load: --duration must be between 5 s and a week, --warmup 0 or more");
            return 2;
        }
        CpuPlan cpus = CpuPlan.From(parsed.GetValue(LoadOptions.ServerCpus), parsed.GetValue(LoadOptions.GeneratorCpus));
        if (cpus.PinGenerator() is { } warning)
            Console.Error.WriteLine($"epollserver-load: {warning}");

        using PeerProcess server = PeerProcess.Start(Peers.Find(Peers.EpollServer), new PeerFiles(), "echo", cpus.ServerCpus, GcEnvironment);
        ProcessSample baseline = ProcessProbe.Sample(server.Pid) ?? throw new InvalidOperationException("the server vanished at start");
        DateTime nextLine = DateTime.UtcNow.AddSeconds(10);
        var plan = new LoadPlan
        {
            Target = server.EndPoint,
            Connections = Echo64 + Echo4K + Churn + Idle + Rude,
            Warmup = TimeSpan.FromSeconds(warmup),
            Duration = TimeSpan.FromSeconds(duration),
            ServerPid = server.Pid,
        };
        Console.WriteLine($"soak: {duration:0} s (+{warmup:0} s warm-up) against epollserver pid {server.Pid}; {cpus.Describe()}");
        var run = new TimedRun(plan)
        {
            // A line every 10 s; the samples themselves are the run's server timeline (one a second).
            Progress = p =>
            {
                if (DateTime.UtcNow < nextLine || ProcessProbe.Sample(server.Pid) is not { } sample)
                    return;
                nextLine = DateTime.UtcNow.AddSeconds(10);
                Console.WriteLine($"  {p.Elapsed,6:0} s  {p.Rate,10:#,0}/s  rss {sample.RssBytes / 1048576.0,6:0.0} MiB  fds {sample.Fds,5}  errors {p.Errors}");
            },
        };
        var small = MessageFormat.Echo(64);
        var large = MessageFormat.Echo(4096);
        RunResult result = run.Execute("soak", Peers.EpollServer, (loop, i) => i switch
        {
            < Echo64 => new RequestReplyClient(loop, small, depth: 4, maxOutstanding: 4),
            < Echo64 + Echo4K => new RequestReplyClient(loop, large, depth: 1, maxOutstanding: 1),
            < Echo64 + Echo4K + Churn => new ChurnClient(loop),
            < Echo64 + Echo4K + Churn + Idle => new RequestReplyClient(loop, small, depth: 0, maxOutstanding: 1),
            _ => new ResetClient(loop),
        });
        List<(double Second, ProcessSample Sample)> samples = result.ServerTimeline;
        ProcessSample? after = ProcessProbe.WaitForFds(server.Pid, baseline.Fds, TimeSpan.FromSeconds(5));
        int? exitCode = server.Stop();

        var verdicts = Judge(samples.Where(s => s.Second >= warmup).Select(s => s.Sample).ToList(), baseline, after, result, exitCode);
        string folder = parsed.GetValue(Out)!;
        Write(folder, duration, warmup, samples, verdicts, result, cpus);
        foreach (var (name, passed, detail) in verdicts)
            Console.WriteLine($"{(passed ? "ok  " : "FAIL")} {name}: {detail}");
        Console.WriteLine($"wrote {Path.Combine(folder, "soak.md")}, soak.csv, soak.html, soak-rss.png, soak-fds.png");
        return verdicts.TrueForAll(v => v.Passed) ? 0 : 1;
    }

    private static List<(string Name, bool Passed, string Detail)> Judge(List<ProcessSample> measured, ProcessSample baseline,
        ProcessSample? after, RunResult result, int? exitCode)
    {
        var verdicts = new List<(string, bool, string)>
        {
            ("load errors", result.Stats.ErrorTotal == 0, result.ErrorSummary() + $" ({result.Stats.Completed:#,0} replies and cycles)"),
        };
        if (measured.Count < 6)
        {
            verdicts.Add(("samples", false, $"only {measured.Count} samples after warm-up"));
            return verdicts;
        }
        int third = measured.Count / 3;
        double firstRss = Median(measured.Take(third).Select(s => (double)s.RssBytes));
        double lastRss = Median(measured.TakeLast(third).Select(s => (double)s.RssBytes));
        double firstFds = Median(measured.Take(third).Select(s => (double)s.Fds));
        double lastFds = Median(measured.TakeLast(third).Select(s => (double)s.Fds));
        verdicts.Add(("RSS flat", lastRss <= firstRss * (1 + RssSlack) + RssAllowance,
            $"median {firstRss / 1048576:0.0} MiB in the first third, {lastRss / 1048576:0.0} MiB in the last (max {measured.Max(s => s.RssBytes) / 1048576.0:0.0})"));
        verdicts.Add(("fds flat", lastFds <= firstFds * (1 + FdSlack) + FdAllowance,
            $"median {firstFds:0} in the first third, {lastFds:0} in the last (max {measured.Max(s => s.Fds)})"));
        verdicts.Add(("fds back to baseline", after is { } a && a.Fds <= baseline.Fds, $"{baseline.Fds} before, {after?.Fds.ToString() ?? "gone"} after"));
        verdicts.Add(("clean exit on SIGTERM", exitCode == 0, exitCode is null ? "killed after the stop timeout" : $"exit code {exitCode}"));
        return verdicts;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted[sorted.Count / 2];
    }

    private static void Write(string folder, double duration, double warmup, List<(double Second, ProcessSample Sample)> samples,
        List<(string Name, bool Passed, string Detail)> verdicts, RunResult result, CpuPlan cpus)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "soak.csv"), Reports.CsvTable.Write(["second", "rss_bytes", "fds", "cpu_seconds"],
            samples.Select(s => (IEnumerable<string>)[Reports.ReportWriter.Invariant(s.Second, "0.0"), Reports.ReportWriter.Invariant(s.Sample.RssBytes, "0"),
                Reports.ReportWriter.Invariant(s.Sample.Fds, "0"), Reports.ReportWriter.Invariant(s.Sample.CpuSeconds, "0.00")])));

        var md = new StringBuilder();
        md.AppendLine("# Soak: mixed load against EpollServer");
        md.AppendLine();
        md.AppendLine($"- Date: {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {Reports.MachineInfo.Describe()}; {cpus.Describe()}");
        md.AppendLine($"- Command: `{Program.CommandLine}`");
        md.AppendLine($"- Load: {Echo64} connections echoing 64 B x 4 pipelined, {Echo4K} echoing 4 KiB, {Churn} connect/echo/close slots, " +
            $"{Idle} idle connections, {Rude} peers that send 16 KiB and reset without reading; {duration:0} s measured after {warmup:0} s warm-up.");
        md.AppendLine("- The server runs with DOTNET_GCgen0size=0x1000000 (a 16 MiB gen0 budget; .NET would size it from the L3 cache), " +
            "so garbage is collected within seconds and a rising RSS means live memory (see native-notes/limits.md).");
        md.AppendLine($"- Throughput: {result.Throughput:#,0} replies and cycles per second; latency p50 {RunResult.Micros(result.Stats.Latency.GetValueAtPercentile(50)):0} µs, " +
            $"p99 {RunResult.Micros(result.Stats.Latency.GetValueAtPercentile(99)):0} µs, max {RunResult.Micros(result.Stats.Latency.GetMaxValue()):0} µs.");
        md.AppendLine();
        md.AppendLine("| check | result | detail |");
        md.AppendLine("|---|---|---|");
        foreach (var (name, passed, detail) in verdicts)
            md.AppendLine($"| {name} | {(passed ? "ok" : "FAIL")} | {detail} |");
        md.AppendLine();
        md.AppendLine("| second | server RSS MiB | server fds |");
        md.AppendLine("|---:|---:|---:|");
        int step = Math.Max(1, samples.Count / 20);
        for (int i = 0; i < samples.Count; i += step)
            md.AppendLine($"| {samples[i].Second:0} | {samples[i].Sample.RssBytes / 1048576.0:0.0} | {samples[i].Sample.Fds} |");
        File.WriteAllText(Path.Combine(folder, "soak.md"), md.ToString());
        ScottPlot.Plot rss = Reports.Charts.Series("server RSS (MiB)", [.. samples.Select(s => (s.Second, s.Sample.RssBytes / 1048576.0))], warmup, 0);
        ScottPlot.Plot fds = Reports.Charts.Series("server fds", [.. samples.Select(s => (s.Second, (double)s.Sample.Fds))], warmup, 1);
        Reports.Charts.Png(rss, folder, "soak-rss.png");
        Reports.Charts.Png(fds, folder, "soak-fds.png");
        File.WriteAllText(Path.Combine(folder, "soak.html"), Reports.HtmlReport.RenderSeries("Soak: server RSS and fds, one sample per second", md.ToString(), [rss, fds]));
    }
}
