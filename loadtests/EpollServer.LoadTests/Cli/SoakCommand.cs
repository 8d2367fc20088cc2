// `epollserver-load soak`: mixed load for a long time (default 10 minutes) against EpollServer speaking every
// protocol it has, one daemon each (SoakDaemons): echo with the admin endpoint on (round trips of two sizes,
// pipelined, connect/close churn, idle connections, rude peers that reset mid-burst, and GET /metrics, /stats and
// /healthz polled), line, chat fan-out, proxy (to an upstream echo daemon the soak starts itself, churn through it
// too) and http (GET /plaintext, keep-alive). Every daemon's RSS and /proc fd count are sampled each second. The soak
// fails on any load error, on a daemon's RSS or fds trending up (the Theil-Sen slope over the last two thirds of
// the run against a bound a 100 KiB/min or 1 fd/min leak breaks: SoakTrend), on fds not back to each daemon's
// baseline at the end, or on a daemon not exiting cleanly on SIGTERM.
using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using EpollServer.LoadTests.Bench;
using EpollServer.LoadTests.Engine;
using EpollServer.LoadTests.Reports;
using HdrHistogram;

namespace EpollServer.LoadTests.Cli;

internal static class SoakCommand
{
    private static readonly Option<double> Duration = new("--duration") { Description = "seconds of soak after warm-up", DefaultValueFactory = _ => 600 };
    // A minute by default: the daemons' heaps fill their gen0 budget and the tiered JIT settles before anything
    // counts, so the judged window (the last two thirds) starts well after start-up. CI's 30 s soak passes 10.
    private static readonly Option<double> Warmup = new("--warmup") { Description = "seconds before sampling counts (the runtime's heap settles)", DefaultValueFactory = _ => 60 };
    private static readonly Option<string> Out = new("--out", "-o") { Description = "folder for soak.md, soak.csv, soak.html and its charts as PNG", DefaultValueFactory = _ => "loadtests/results/soak" };

    // The mix, by connection. Against the echo daemon: what each slice of the clients does.
    private const int Echo64 = 8, Echo4K = 4, Churn = 4, Idle = 200, Rude = 2;

    // Against the others: line round trips, a chat room (one sender, its receivers), the proxy (round trips and
    // churn, each client with its own upstream connection), HTTP keep-alive, and one poller of the admin endpoint.
    private const int Lines = 4, ChatReceivers = 8, ChatWindow = 16, Proxied = 4, ProxyChurn = 2, Http = 4;
    private static readonly TimeSpan AdminInterval = TimeSpan.FromMilliseconds(200);
    private static readonly string[] AdminPaths = ["/metrics", "/stats", "/healthz"];

    // .NET sizes the gen0 budget from the L3 cache (266 MB on the machine this was written on), so under churn the
    // RSS of a healthy server climbs by that much of garbage before the first collection, and a short soak would
    // read that as a leak. A 16 MiB budget makes garbage go within seconds: what still trends up is live memory.
    private static readonly Dictionary<string, string> GcEnvironment = new() { ["DOTNET_GCgen0size"] = "0x1000000" };

    public static Command Create()
    {
        var command = new Command("soak", "Mixed load on every protocol for a long time; fail if a server's RSS or fds trend up");
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
        return CommandFailures.Run(() =>
        {
            ProcessBuild.RefuseUnoptimizedGenerator();
            using SoakDaemons daemons = SoakDaemons.Start(new PeerFiles(), cpus.ServerCpus, GcEnvironment);
            return Soak(parsed, daemons, cpus, duration, warmup);
        });
    }

    private static int Soak(ParseResult parsed, SoakDaemons daemons, CpuPlan cpus, double duration, double warmup)
    {
        daemons.Prime();
        Dictionary<string, ProcessSample> baseline = daemons.Sample() ?? throw new InvalidOperationException("a daemon vanished at start");
        Dictionary<string, Dictionary<string, string>> baselineFds = daemons.AllFdTargets();
        List<Func<ClientLoop, LoadClient>> mix = Mix(daemons, out Func<string> chatFigures);
        var plan = new LoadPlan
        {
            Target = daemons.Echo.EndPoint,
            Connections = mix.Count,
            Warmup = TimeSpan.FromSeconds(warmup),
            Duration = TimeSpan.FromSeconds(duration),
            ServerPid = daemons.Echo.Pid,
            // Six daemons share the server CPUs: on a busy machine what is owed at the end may take seconds to come.
            DrainTimeout = TimeSpan.FromSeconds(10),
        };
        Console.WriteLine($"soak: {duration:0} s (+{warmup:0} s warm-up) against {daemons.Describe()}; {cpus.Describe()}");
        var samples = new List<(double Second, string Daemon, ProcessSample Sample)>();
        double nextSample = 0, nextLine = 10;
        var run = new TimedRun(plan)
        {
            // Every daemon sampled once a second on the waiting thread, and a line every 10 s.
            Progress = p =>
            {
                if (p.Elapsed < nextSample || daemons.Sample() is not { } now)
                    return;
                nextSample = Math.Floor(p.Elapsed) + 1;
                foreach ((string name, ProcessSample sample) in now)
                    samples.Add((p.Elapsed, name, sample));
                if (p.Elapsed < nextLine)
                    return;
                nextLine = p.Elapsed + 10;
                Console.WriteLine($"  {p.Elapsed,6:0} s  {p.Rate,10:#,0}/s  errors {p.Errors}  " +
                    string.Join("  ", now.Select(d => $"{d.Key} {d.Value.RssBytes / 1048576.0:0.0} MiB {d.Value.Fds} fds")));
            },
        };
        RunResult result = run.Execute("soak", Peers.EpollServer, (loop, i) => mix[i](loop));
        Dictionary<string, ProcessSample?> after = daemons.WaitForFds(baseline, TimeSpan.FromSeconds(5));
        Dictionary<string, List<string>> opened = daemons.Names.ToDictionary(n => n, n => Opened(baselineFds[n], SoakDaemons.FdTargets(daemons.PidOf(n))));
        Dictionary<string, int?> exitCodes = daemons.Stop();

        var verdicts = Judge(samples, warmup, warmup + duration, baseline, after, opened, result, exitCodes, daemons.Names);
        string folder = parsed.GetValue(Out)!;
        Write(folder, duration, warmup, samples, verdicts, result, cpus, daemons, chatFigures());
        foreach (var (name, passed, detail) in verdicts)
            Console.WriteLine($"{(passed ? "ok  " : "FAIL")} {name}: {detail}");
        Console.WriteLine($"wrote {Path.Combine(folder, "soak.md")}, soak.csv, soak.html, soak-rss.png, soak-fds.png");
        return verdicts.TrueForAll(v => v.Passed) ? 0 : 1;
    }

    // One factory per connection, in order: the run's connection i is mix[i].
    private static List<Func<ClientLoop, LoadClient>> Mix(SoakDaemons daemons, out Func<string> chatFigures)
    {
        var small = MessageFormat.Echo(64);
        var large = MessageFormat.Echo(4096);
        var mix = new List<Func<ClientLoop, LoadClient>>();
        void Add(int count, Func<ClientLoop, LoadClient> client) => mix.AddRange(Enumerable.Repeat(client, count));
        Add(Echo64, loop => new RequestReplyClient(loop, small, depth: 4, maxOutstanding: 4));
        Add(Echo4K, loop => new RequestReplyClient(loop, large, depth: 1, maxOutstanding: 1));
        Add(Churn, loop => new ChurnClient(loop));
        Add(Idle, loop => new RequestReplyClient(loop, small, depth: 0, maxOutstanding: 1));
        Add(Rude, loop => new ResetClient(loop));
        Add(1, loop => new HttpGetClient(loop, daemons.Admin, AdminPaths, AdminInterval));
        Add(Lines, loop => new RequestReplyClient(loop, small, depth: 2, maxOutstanding: 2, daemons.Line.EndPoint));
        var fanout = new ChatFanout(ChatReceivers, ChatWindow);
        ChatSender? sender = null;
        Add(ChatReceivers, loop => new ChatReceiver(loop, fanout, daemons.Chat.EndPoint));
        Add(1, loop => sender = new ChatSender(loop, fanout, 64, paced: false, daemons.Chat.EndPoint));
        Add(Proxied, loop => new RequestReplyClient(loop, small, depth: 2, maxOutstanding: 2, daemons.Proxy.EndPoint));
        Add(ProxyChurn, loop => new ChurnClient(loop, daemons.Proxy.EndPoint));
        Add(Http, loop => new HttpGetClient(loop, daemons.Http.EndPoint, ["/plaintext"], TimeSpan.Zero));
        chatFigures = () => $"{sender?.Sent ?? 0:#,0} chat messages sent, {fanout.FullyDelivered:#,0} delivered to all {ChatReceivers} receivers";
        return mix;
    }

    private static List<(string Name, bool Passed, string Detail)> Judge(List<(double Second, string Daemon, ProcessSample Sample)> samples,
        double start, double end, Dictionary<string, ProcessSample> baseline, Dictionary<string, ProcessSample?> after,
        Dictionary<string, List<string>> opened, RunResult result,
        Dictionary<string, int?> exitCodes, IReadOnlyList<string> names)
    {
        var verdicts = new List<(string, bool, string)>
        {
            ("load errors", result.Stats.ErrorTotal == 0, result.ErrorSummary() + $" ({result.Stats.Completed:#,0} replies, deliveries, answers and cycles)"),
        };
        foreach (string name in names)
        {
            var mine = samples.Where(s => s.Daemon == name).ToList();
            TrendVerdict rss = SoakTrend.Judge(mine.Select(s => (s.Second, (double)s.Sample.RssBytes)), start, end, TrendBound.Rss);
            TrendVerdict fds = SoakTrend.Judge(mine.Select(s => (s.Second, (double)s.Sample.Fds)), start, end, TrendBound.Fds);
            verdicts.Add(($"{name}: RSS trend", rss.Passed, rss.Detail));
            verdicts.Add(($"{name}: fds trend", fds.Passed, fds.Detail));
            // An assembly the runtime mapped during the run (tiered JIT compiling a method that names it) holds fds
            // for good; it is loaded once, not per connection, so it is named and not counted.
            ProcessSample? end0 = after[name];
            List<string> assemblies = [.. opened[name].Where(IsAssembly)];
            List<string> others = [.. opened[name].Where(fd => !IsAssembly(fd))];
            string named = (others.Count > 0 ? $"; new: {string.Join(", ", others.Take(8))}{(others.Count > 8 ? $" and {others.Count - 8} more" : "")}" : "")
                + (assemblies.Count > 0 ? $"; {assemblies.Count} fds of assemblies loaded during the run not counted ({string.Join(", ", assemblies.Select(Path.GetFileName).Distinct())})" : "");
            verdicts.Add(($"{name}: fds back to baseline", end0 is { } a && a.Fds - assemblies.Count <= baseline[name].Fds,
                $"{baseline[name].Fds} before, {end0?.Fds.ToString(CultureInfo.InvariantCulture) ?? "gone"} after{named}"));
            int? exit = exitCodes[name];
            verdicts.Add(($"{name}: clean exit on SIGTERM", exit == 0, exit is null ? "killed after the stop timeout" : $"exit code {exit}"));
        }
        return verdicts;
    }

    // The fds open now that were not at the baseline (or now point elsewhere), as "FD -> TARGET".
    private static List<string> Opened(Dictionary<string, string> before, Dictionary<string, string> now) =>
        [.. now.Where(fd => !before.TryGetValue(fd.Key, out string? was) || was != fd.Value).Select(fd => $"{fd.Key} -> {fd.Value}")];

    private static bool IsAssembly(string fd) => fd.EndsWith(".dll", StringComparison.Ordinal) || fd.EndsWith(".so", StringComparison.Ordinal);

    private static void Write(string folder, double duration, double warmup, List<(double Second, string Daemon, ProcessSample Sample)> samples,
        List<(string Name, bool Passed, string Detail)> verdicts, RunResult result, CpuPlan cpus, SoakDaemons daemons, string chat)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "soak.csv"), CsvTable.Write(["second", "daemon", "rss_bytes", "fds", "cpu_seconds"],
            samples.Select(s => (IEnumerable<string>)[ReportWriter.Invariant(s.Second, "0.0"), s.Daemon, ReportWriter.Invariant(s.Sample.RssBytes, "0"),
                ReportWriter.Invariant(s.Sample.Fds, "0"), ReportWriter.Invariant(s.Sample.CpuSeconds, "0.00")])));
        string md = Markdown(duration, warmup, samples, verdicts, result, cpus, daemons, chat);
        File.WriteAllText(Path.Combine(folder, "soak.md"), md);
        var byDaemon = daemons.Names.Select(n => (Name: n, Points: samples.Where(s => s.Daemon == n).ToList())).ToList();
        ScottPlot.Plot rss = Charts.Series("server RSS (MiB), one line per daemon",
            [.. byDaemon.Select(d => (d.Name, (IReadOnlyList<(double, double)>)[.. d.Points.Select(s => (s.Second, s.Sample.RssBytes / 1048576.0))]))], warmup);
        ScottPlot.Plot fds = Charts.Series("server fds, one line per daemon",
            [.. byDaemon.Select(d => (d.Name, (IReadOnlyList<(double, double)>)[.. d.Points.Select(s => (s.Second, (double)s.Sample.Fds))]))], warmup);
        Charts.Png(rss, folder, "soak-rss.png");
        Charts.Png(fds, folder, "soak-fds.png");
        File.WriteAllText(Path.Combine(folder, "soak.html"), HtmlReport.RenderSeries("Soak: every daemon's RSS and fds, one sample per second", md, [rss, fds]));
    }

    private static string Markdown(double duration, double warmup, List<(double Second, string Daemon, ProcessSample Sample)> samples,
        List<(string Name, bool Passed, string Detail)> verdicts, RunResult result, CpuPlan cpus, SoakDaemons daemons, string chat)
    {
        var md = new StringBuilder();
        md.AppendLine("# Soak: mixed load on every protocol against EpollServer");
        md.AppendLine();
        md.AppendLine($"- Date: {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {MachineInfo.Describe()}; {cpus.Describe()}");
        md.AppendLine($"- Command: `{Program.CommandLine}`");
        md.AppendLine($"- Daemons (each `epollserver`, a reactor per server CPU): {daemons.Describe()}.");
        md.AppendLine($"- Load: echo: {Echo64} connections echoing 64 B x 4 pipelined, {Echo4K} echoing 4 KiB, {Churn} connect/echo/close slots, " +
            $"{Idle} idle connections, {Rude} peers that send 16 KiB and reset without reading; admin endpoint: GET {string.Join(", ", AdminPaths)} in turn " +
            $"every {AdminInterval.TotalMilliseconds:0} ms; line: {Lines} connections x 2 in flight; chat: 1 sender to {ChatReceivers} receivers, window {ChatWindow}; " +
            $"proxy: {Proxied} connections x 2 in flight and {ProxyChurn} churn slots, through to the upstream echo daemon; http: {Http} keep-alive " +
            $"connections GET /plaintext. {duration:0} s measured after {warmup:0} s warm-up.");
        md.AppendLine("- Every daemon runs with DOTNET_GCgen0size=0x1000000 (a 16 MiB gen0 budget; .NET would size it from the L3 cache), " +
            "so garbage is collected within seconds and a rising RSS means live memory (see native-notes/limits.md).");
        md.AppendLine($"- Judged by trend: the Theil-Sen slope (the median of pairwise slopes, which one heap step does not move) of each daemon's RSS and fds over the last two thirds of the run, against " +
            $"{TrendBound.Rss.Format(TrendBound.Rss.BoundPerMinute)} (a {TrendBound.Rss.Format(TrendBound.Rss.LeakPerMinute).TrimStart('+')} leak breaks it) " +
            $"and {TrendBound.Fds.Format(TrendBound.Fds.BoundPerMinute)} (one leaked fd a minute breaks it); a window under " +
            $"{SoakTrend.MinimumWindow.TotalSeconds:0} s is reported, not judged (too short to tell a leak from noise), and a window too noisy to see " +
            "such a leak fails as inconclusive. Also: no load error, each daemon's fds back to its baseline, a clean exit on SIGTERM.");
        md.AppendLine($"- Throughput: {result.Throughput:#,0} replies, deliveries, answers and cycles per second; {chat}; latency p50 " +
            $"{RunResult.Micros(result.Stats.Latency.GetValueAtPercentile(50)):0} µs, p99 {RunResult.Micros(result.Stats.Latency.GetValueAtPercentile(99)):0} µs, " +
            $"max {RunResult.Micros(result.Stats.Latency.GetMaxValue()):0} µs.");
        md.AppendLine();
        md.AppendLine("| check | result | detail |");
        md.AppendLine("|---|---|---|");
        foreach (var (name, passed, detail) in verdicts)
            md.AppendLine($"| {name} | {(passed ? "ok" : "FAIL")} | {detail} |");
        md.AppendLine();
        md.AppendLine("| second | " + string.Join(" | ", daemons.Names.Select(n => $"{n} RSS MiB | {n} fds")) + " |");
        md.AppendLine("|---:|" + string.Concat(daemons.Names.Select(_ => "---:|---:|")));
        var seconds = samples.Select(s => s.Second).Distinct().ToList();
        int step = Math.Max(1, seconds.Count / 20);
        for (int i = 0; i < seconds.Count; i += step)
        {
            var row = samples.Where(s => s.Second == seconds[i]).ToDictionary(s => s.Daemon, s => s.Sample);
            md.AppendLine($"| {seconds[i]:0} | " + string.Join(" | ", daemons.Names.Select(n => row.TryGetValue(n, out ProcessSample s)
                ? $"{s.RssBytes / 1048576.0:0.0} | {s.Fds}" : " | ")) + " |");
        }
        md.AppendLine();
        md.AppendLine("How each daemon was built and run:");
        md.AppendLine();
        md.AppendLine("| daemon | configuration | runtime | GC | DOTNET_ settings | CPUs | command |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (ProcessBuild build in new[] { ProcessBuild.OfGenerator() }.Concat(daemons.Builds))
        {
            string settings = string.Join(" ", build.DotnetSettings.Select(kv => $"{kv.Key}={kv.Value}"));
            md.AppendLine($"| {build.Name} | {build.Configuration} | {build.Runtime} | {build.Gc} | {settings} | {build.Pinning} | `{build.Command}` |");
        }
        return md.ToString();
    }
}
