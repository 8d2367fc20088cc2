// Writes a report as Markdown (for the repository and reviews), CSV (one row per round, for spreadsheets), JSON
// (everything, timelines included), a self-contained HTML page with SVG charts (no network, no script), each chart
// as a PNG in charts/, and each round's latency distribution as an .hgrm file in hgrm/.
using System.Globalization;
using System.Text;
using System.Text.Json;
using EpollServer.LoadTests.Engine;
using HdrHistogram;

namespace EpollServer.LoadTests.Reports;

internal static class ReportWriter
{
    public static readonly double[] Percentiles = [50, 75, 95, 99, 99.9];

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

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
        md.AppendLine($"- Result: {(report.Passed ? "every EpollServer round passed its checks" : "FAILED (see the notes column)")}");
        md.AppendLine();
        md.AppendLine("Throughput is replies per second in the measured window (chat: deliveries; churn: connect-echo-close cycles). " +
            "Latency is measured from each request's intended send time, in microseconds. Each figure is the median of the rounds; " +
            "CPU is the share of one core a process used while measured (all its threads: 200% is two cores busy): a server " +
            "using all its CPUs is saturated, and a generator below 100% per generator thread was not the bottleneck. " +
            "Per CPU-second is throughput divided by server CPU: replies per second of server CPU, which compares servers " +
            "fairly even where the generator caps raw throughput.");
        foreach (CaseReport item in report.Cases)
        {
            md.AppendLine();
            md.AppendLine($"## {item.Title}");
            md.AppendLine();
            md.AppendLine("| server | per second | vs EpollServer | p50 | p75 | p95 | p99 | p99.9 | max | server CPU | per CPU-second | vs EpollServer | generator CPU | server RSS MiB | errors | notes |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
            foreach (PeerSummary server in item.Servers)
            {
                md.Append($"| {server.Server} | {Number(server.Throughput)} | {Ratio(server, item.Reference)} |");
                foreach (double p in Percentiles)
                    md.Append($" {Micros(server.LatencyMicros(p))} |");
                md.Append($" {Micros(server.MaxMicros)} | {Percent(server.ServerCpu)} | {Optional(server.Efficiency)} | {EfficiencyRatio(server, item.Reference)} |");
                md.Append($" {Percent(server.GeneratorCpu)} | {Fixed(server.ServerRssMiB)} | {server.Errors} | {Escape(server.Problems())} |");
                md.AppendLine();
            }
            AppendFigures(md, item);
            AppendScaling(md, item);
        }
        return md.ToString();
    }

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
             "per_cpu_second", "generator_cpu", "server_rss_mib", "bytes_per_connection", "passed"],
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
                    median = new
                    {
                        perSecond = Round(server.Throughput),
                        ratioToEpollServer = item.Reference is { Throughput: > 0 } reference ? Round(server.Throughput / reference.Throughput, 3) : (double?)null,
                        latencyMicros = Percentiles.ToDictionary(p => $"p{p.ToString(CultureInfo.InvariantCulture)}", p => Round(server.LatencyMicros(p))),
                        maxMicros = Round(server.MaxMicros),
                        serverCpu = server.ServerCpu,
                        perCpuSecond = server.Efficiency is double e ? Round(e) : (double?)null,
                        generatorCpu = server.GeneratorCpu,
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

    private static string Percent(double? share) => share is double s ? $"{s * 100:0}%" : "";

    private static string Fixed(double? value) => value is double v ? v.ToString("0.0", CultureInfo.InvariantCulture) : "";

    public static string Optional(double? value) => value is double v ? Number(v) : "";

    public static string EfficiencyRatio(PeerSummary server, PeerSummary? reference) =>
        server.Efficiency is double mine && reference?.Efficiency is double theirs && theirs > 0 ? $"{mine / theirs:0.00}x" : "";

    public static string Ratio(PeerSummary server, PeerSummary? reference) =>
        reference is { Throughput: > 0 } r ? $"{server.Throughput / r.Throughput:0.00}x" : "";

    private static string Escape(string text) => text.Replace("|", "\\|");
}
