// Writes a report as Markdown (for the repository and reviews), CSV (one row per round, for spreadsheets), JSON
// (everything, timelines included), a self-contained HTML page with SVG charts (no network, no script), each chart
// as a PNG in charts/, and each round's latency distribution as an .hgrm file in hgrm/.
using System.Globalization;
using System.Text;
using System.Text.Json;
using EpollServer.LoadTests.Bench;
using EpollServer.LoadTests.Engine;
using HdrHistogram;

namespace EpollServer.LoadTests.Reports;

internal static class ReportWriter
{
    public static readonly double[] Percentiles = [50, 75, 95, 99, 99.9];

    // camelCase throughout: the anonymous objects are written so, and the records (builds, checks) follow them.
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static IReadOnlyList<string> WriteAll(BenchReport report, string folder)
    {
        Directory.CreateDirectory(folder);
        var written = new List<string>
        {
            Write(folder, "report.md", Markdown(report)),
            Write(folder, "report.csv", Csv(report)),
            Write(folder, "report.json", Json(report)),
            Write(folder, "report.html", HtmlReport.Render(report)),
        };
        var colors = Charts.Colors(report.Cases.SelectMany(c => c.Servers.Select(s => s.Server)));
        foreach (CaseReport item in report.Cases)
            written.AddRange(Charts.ForCase(item, colors).Select(c => Charts.Png(c.Plot, Path.Combine(folder, "charts"), c.Name)));
        string hgrm = Path.Combine(folder, "hgrm");
        written.Add($"{hgrm}/ ({WriteDistributions(report, hgrm)} .hgrm files, a round's latency distribution each)");
        return written;
    }

    // Each round's whole latency distribution in HdrHistogram's percentile format (values in µs), which its plotter
    // and other HdrHistogram tools read: hgrm/CASE.SERVER.rROUND.hgrm.
    private static int WriteDistributions(BenchReport report, string hgrm)
    {
        Directory.CreateDirectory(hgrm);
        int written = 0;
        foreach (CaseReport item in report.Cases)
        {
            foreach (PeerSummary server in item.Servers)
            {
                for (int round = 0; round < server.Rounds.Count; round++)
                {
                    string path = Path.Combine(hgrm, $"{item.Id}.{server.Server}.r{round + 1}.hgrm");
                    using (var writer = new StreamWriter(path))
                        server.Rounds[round].Stats.Latency.OutputPercentileDistribution(writer, outputValueUnitScalingRatio: 1000.0);
                    written++;
                }
            }
        }
        return written;
    }

    private static string Write(string folder, string name, string content)
    {
        string path = Path.Combine(folder, name);
        File.WriteAllText(path, content);
        return path;
    }

    public static string Markdown(BenchReport report)
    {
        var md = new StringBuilder();
        md.AppendLine($"# {report.Title}");
        md.AppendLine();
        md.AppendLine($"- Date: {report.Date:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine($"- Machine: {report.Machine}");
        md.AppendLine($"- Pinning: {report.Pinning}");
        md.AppendLine($"- Command: `{report.Command}`");
        md.AppendLine($"- Generator: epollserver-load, {report.Generator.Configuration}; {report.Generator.Runtime}; GC {report.Generator.Gc}; {report.Generator.Pinning}" +
            string.Concat(report.ExternalGenerators.Select(g => $"; {g.Name}: {g.Runtime}")) + " (every server's build: the last section)");
        md.AppendLine($"- Result: {(report.Passed ? "every EpollServer round passed its checks" : "FAILED (see the notes column)")}");
        md.AppendLine();
        md.AppendLine("Throughput is replies per second in the measured window (chat: deliveries; churn: connect-echo-close cycles). " +
            "Latency is measured from each request's intended send time, in microseconds. Each figure is the median of the rounds, " +
            "with the round-to-round range (min-max) beside throughput, per CPU-second and p99 when there was more than one round. " +
            "CPU is over the measured window, as a share of the CPUs each process was given (all its threads; \"98% of 1\" is one CPU " +
            "almost busy), the generator's being this engine's process or wrk's: a server at 100% is saturated. " +
            "Per CPU-second is throughput divided by server CPU: replies per second of server CPU, which compares servers " +
            "fairly even where the generator caps raw throughput. " + Saturation.Rule + ": such a figure is the generator's ceiling, " +
            "not the server's, and a ratio against it says so.");
        foreach (CaseReport item in report.Cases)
        {
            md.AppendLine();
            md.AppendLine($"## {item.Title}");
            md.AppendLine();
            md.AppendLine("| server | per second (min-max) | vs EpollServer | p50 | p75 | p95 | p99 (min-max) | p99.9 | max | server CPU | per CPU-second (min-max) | vs EpollServer | generator CPU | generator-bound | server RSS MiB | errors | notes |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|");
            foreach (PeerSummary server in item.Servers)
            {
                md.Append($"| {server.Server} | {WithRange(server.Throughput, server.ThroughputRange, server.Rounds.Count, Number)} | {Ratio(server, item.Reference)} |");
                foreach (double p in Percentiles)
                    md.Append($" {(p == 99 ? WithRange(server.LatencyMicros(p), server.LatencyRange(p), server.Rounds.Count, Micros) : Micros(server.LatencyMicros(p)))} |");
                md.Append($" {Micros(server.MaxMicros)} | {CpuOf(server.ServerCpuShare, server.ServerCpuCount)} |");
                md.Append($" {(server.Efficiency is double e ? WithRange(e, server.EfficiencyRange, server.Rounds.Count, Number) : "")} | {EfficiencyRatio(server, item.Reference)} |");
                md.Append($" {CpuOf(server.GeneratorCpuShare, server.GeneratorCpuCount)} | {(server.GeneratorBound ? "**yes**" : "")} | {Fixed(server.ServerRssMiB)} | {server.Errors} | {Escape(server.Problems())} |");
                md.AppendLine();
            }
            if (item.Servers.Where(s => s.GeneratorBound).Select(s => s.Server).ToList() is { Count: > 0 } bound)
            {
                md.AppendLine();
                md.AppendLine($"Generator-bound: {string.Join(", ", bound)} (below {Saturation.ServerBelow:P0} of its CPUs while the generator was at or above " +
                    $"{Saturation.GeneratorAtLeast:P0} of its own): its throughput is the generator's ceiling, and a ratio involving it does not rank the servers.");
            }
            AppendFigures(md, item);
            AppendScaling(md, item);
        }
        AppendBuilds(md, report);
        return md.ToString();
    }

    // How every program in the report was built and run, as read from it (BuildInfo.cs), with its exact command.
    private static void AppendBuilds(StringBuilder md, BenchReport report)
    {
        md.AppendLine();
        md.AppendLine("## How each program was built and run");
        md.AppendLine();
        md.AppendLine("Configuration as the assembly's own metadata says (DebuggableAttribute, AssemblyConfiguration), runtime as the running " +
            "process mapped it, GC mode from the DOTNET_ variables or the runtimeconfig.json, CPUs as the kernel allowed them (Cpus_allowed_list).");
        md.AppendLine();
        md.AppendLine("| program | configuration | runtime | GC | DOTNET_ settings | CPUs | command |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (ProcessBuild build in new[] { report.Generator }.Concat(report.ExternalGenerators).Concat(report.ServerBuilds))
        {
            string settings = string.Join(" ", build.DotnetSettings.Select(kv => $"{kv.Key}={kv.Value}"));
            md.AppendLine($"| {build.Name} | {Escape(build.Configuration)} | {Escape(build.Runtime)} | {Escape(build.Gc)} | {Escape(settings)} | {build.Pinning} | `{Escape(build.Command)}` |");
        }
    }

    // "median (min-max)" for more than one round, else the median alone.
    public static string WithRange(double median, (double Min, double Max)? range, int rounds, Func<double, string> format) =>
        rounds < 2 || range is not { } r ? format(median) : $"{format(median)} ({format(r.Min)}-{format(r.Max)})";

    // "98% of 1": a share of the CPUs a process was given, and how many.
    public static string CpuOf(double? share, int? cpus) => share is double s ? $"{s * 100:0}% of {cpus}" : "";

    private static void AppendFigures(StringBuilder md, CaseReport item)
    {
        var names = item.Servers.SelectMany(s => s.MedianRound?.Figures.Select(f => f.Name) ?? []).Distinct().ToList();
        if (names.Count == 0)
            return;
        md.AppendLine();
        md.AppendLine("| figure | " + string.Join(" | ", item.Servers.Select(s => s.Server)) + " |");
        md.AppendLine("|---|" + string.Concat(item.Servers.Select(_ => "---:|")));
        foreach (string name in names)
        {
            md.Append($"| {name} |");
            foreach (PeerSummary server in item.Servers)
            {
                string value = server.MedianRound?.Figures.FirstOrDefault(f => f.Name == name).Value ?? "";
                md.Append($" {value} |");
            }
            md.AppendLine();
        }
    }

    // Servers named epollserver-rN (the scaling suite): each against N times one reactor.
    private static void AppendScaling(StringBuilder md, CaseReport item)
    {
        var scaled = item.Servers.Select(s => (Server: s, Reactors: Bench.Peers.ScaledReactors(s.Server))).Where(s => s.Reactors > 0).OrderBy(s => s.Reactors).ToList();
        PeerSummary? one = scaled.FirstOrDefault(s => s.Reactors == 1).Server;
        if (scaled.Count == 0 || one is not { Throughput: > 0 })
            return;
        md.AppendLine();
        md.AppendLine("| reactors | per second | of linear (N x one reactor) | per CPU-second | vs one reactor |");
        md.AppendLine("|---:|---:|---:|---:|---:|");
        foreach (var (server, reactors) in scaled)
        {
            double linear = server.Throughput / (reactors * one.Throughput);
            md.AppendLine($"| {reactors} | {Number(server.Throughput)} | {linear:0.00}x | {Optional(server.Efficiency)} | {EfficiencyRatio(server, one)} |");
        }
    }

    public static string Csv(BenchReport report) =>
        CsvTable.Write(
            ["case", "server", "round", "per_second", "p50_us", "p75_us", "p95_us", "p99_us", "p999_us", "max_us", "errors", "server_cpu",
             "per_cpu_second", "generator_cpu", "server_cpus", "generator_cpus", "server_cpu_share", "generator_cpu_share", "generator_bound",
             "server_rss_mib", "bytes_per_connection", "passed"],
            from item in report.Cases
            from server in item.Servers
            from round in server.Rounds.Select((r, i) => (Result: r, Number: i + 1))
            select CsvRow(item, server, round.Result, round.Number));

    private static IEnumerable<string> CsvRow(CaseReport item, PeerSummary server, RunResult r, int round) =>
    [
        item.Id, server.Server, round.ToString(CultureInfo.InvariantCulture), Invariant(r.Throughput, "0.0"),
        .. Percentiles.Select(p => Invariant(RunResult.Micros(r.Stats.Latency.GetValueAtPercentile(p)), "0.0")),
        Invariant(RunResult.Micros(r.Stats.Latency.GetMaxValue()), "0.0"), r.Stats.ErrorTotal.ToString(CultureInfo.InvariantCulture),
        Invariant(r.ServerCpu, "0.000"), Invariant(r.Efficiency, "0"), Invariant(r.GeneratorCpu, "0.000"),
        r.ServerCpuCount.ToString(CultureInfo.InvariantCulture), Math.Min(r.GeneratorCpuCount, r.GeneratorThreads).ToString(CultureInfo.InvariantCulture),
        Invariant(r.ServerCpuShare, "0.000"), Invariant(r.GeneratorCpuShare, "0.000"), r.GeneratorBound ? "yes" : "no",
        Invariant(r.ServerAfter?.RssBytes / 1048576.0, "0.0"), Invariant(r.PerConnectionBytes, "0"), r.Passed ? "yes" : "no",
    ];

    // A number as CSV wants it: invariant culture; empty where there is none.
    public static string Invariant(double? value, string format) => value is double v ? v.ToString(format, CultureInfo.InvariantCulture) : "";

    public static string Json(BenchReport report)
    {
        var document = new
        {
            title = report.Title,
            date = report.Date,
            command = report.Command,
            machine = report.Machine,
            pinning = report.Pinning,
            generator = report.Generator,
            externalGenerators = report.ExternalGenerators,
            generatorBoundRule = Saturation.Rule,
            passed = report.Passed,
            cases = report.Cases.Select(item => new
            {
                id = item.Id,
                title = item.Title,
                passed = item.Passed,
                servers = item.Servers.Select(server => new
                {
                    server = server.Server,
                    description = server.Description,
                    passed = server.Passed,
                    problems = server.Problems(),
                    build = server.Build,
                    generatorBound = server.GeneratorBound,
                    serverCpus = server.ServerCpuCount,
                    generatorCpus = server.GeneratorCpuCount,
                    range = new
                    {
                        perSecond = server.ThroughputRange is { } t ? new[] { Round(t.Min), Round(t.Max) } : null,
                        perCpuSecond = server.EfficiencyRange is { } c ? new[] { Round(c.Min), Round(c.Max) } : null,
                        p99Micros = server.LatencyRange(99) is { } l ? new[] { Round(l.Min), Round(l.Max) } : null,
                    },
                    median = new
                    {
                        perSecond = Round(server.Throughput),
                        ratioToEpollServer = item.Reference is { Throughput: > 0 } reference ? Round(server.Throughput / reference.Throughput, 3) : (double?)null,
                        latencyMicros = Percentiles.ToDictionary(p => $"p{p.ToString(CultureInfo.InvariantCulture)}", p => Round(server.LatencyMicros(p))),
                        maxMicros = Round(server.MaxMicros),
                        serverCpu = server.ServerCpu,
                        perCpuSecond = server.Efficiency is double e ? Round(e) : (double?)null,
                        generatorCpu = server.GeneratorCpu,
                        serverCpuShare = server.ServerCpuShare,
                        generatorCpuShare = server.GeneratorCpuShare,
                        serverRssMiB = server.ServerRssMiB,
                        bytesPerConnection = server.PerConnectionBytes,
                    },
                    rounds = server.Rounds.Select(r => new
                    {
                        perSecond = Round(r.Throughput),
                        replies = r.Stats.Completed,
                        errors = Enumerable.Range(0, r.Stats.Errors.Length).Where(i => r.Stats.Errors[i] > 0)
                            .ToDictionary(i => ((LoadError)i).ToString(), i => r.Stats.Errors[i]),
                        latencyMicros = Percentiles.ToDictionary(p => $"p{p.ToString(CultureInfo.InvariantCulture)}",
                            p => Round(RunResult.Micros(r.Stats.Latency.GetValueAtPercentile(p)))),
                        maxMicros = Round(RunResult.Micros(r.Stats.Latency.GetMaxValue())),
                        repliesPerSecondTimeline = r.Stats.CompletedPerSecond,
                        errorsPerSecondTimeline = r.Stats.ErrorsPerSecond,
                        serverCpu = r.ServerCpu,
                        generatorCpu = r.GeneratorCpu,
                        serverCpuShare = r.ServerCpuShare,
                        generatorCpuShare = r.GeneratorCpuShare,
                        generatorBound = r.GeneratorBound,
                        checks = r.Checks,
                        figures = r.Figures.ToDictionary(f => f.Name, f => f.Value),
                    }),
                    exitCodes = server.ExitCodes,
                    failures = server.Failures,
                }),
            }),
        };
        return JsonSerializer.Serialize(document, Indented);
    }

    private static double Round(double value, int digits = 1) => Math.Round(value, digits);

    public static string Number(double value) => value >= 100 ? value.ToString("#,0", CultureInfo.InvariantCulture) : value.ToString("0.##", CultureInfo.InvariantCulture);

    public static string Micros(double value) => value >= 1000 ? value.ToString("#,0", CultureInfo.InvariantCulture) : value.ToString("0.0", CultureInfo.InvariantCulture);

    private static string Fixed(double? value) => value is double v ? v.ToString("0.0", CultureInfo.InvariantCulture) : "";

    public static string Optional(double? value) => value is double v ? Number(v) : "";

    public static string EfficiencyRatio(PeerSummary server, PeerSummary? reference) =>
        server.Efficiency is double mine && reference?.Efficiency is double theirs && theirs > 0 ? $"{mine / theirs:0.00}x" : "";

    public static string Ratio(PeerSummary server, PeerSummary? reference) =>
        reference is { Throughput: > 0 } r ? $"{server.Throughput / r.Throughput:0.00}x" : "";

    private static string Escape(string text) => text.Replace("|", "\\|");
}
