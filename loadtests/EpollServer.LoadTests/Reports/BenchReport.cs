// What a run or a bench produced, aggregated for the reports: per case, per server, the median of its rounds and
// its ratio to EpollServer; the machine and the exact command, so a figure can be checked by running it again.
using System.Runtime.InteropServices;
using EpollServer.LoadTests.Bench;
using EpollServer.LoadTests.Engine;
using HdrHistogram;

namespace EpollServer.LoadTests.Reports;

internal sealed class BenchReport
{
    public required string Title { get; init; }

    public required string Command { get; init; }

    public required DateTimeOffset Date { get; init; }

    public required MachineInfo Machine { get; init; }

    public required string Pinning { get; init; }

    public List<CaseReport> Cases { get; } = [];

    // How the generator was built and runs (this process), and any external generator a case used (wrk).
    public ProcessBuild Generator { get; init; } = ProcessBuild.OfGenerator();

    public List<ProcessBuild> ExternalGenerators { get; } = [];

    // Every server's build, in the order the cases first list them.
    public IEnumerable<ProcessBuild> ServerBuilds => Cases.SelectMany(c => c.Servers).Select(s => s.Build).OfType<ProcessBuild>().DistinctBy(b => b.Name);

    public bool Passed => Cases.TrueForAll(c => c.Passed);
}

internal sealed class CaseReport
{
    public required string Id { get; init; }

    public required string Title { get; init; }

    public List<PeerSummary> Servers { get; } = [];

    // A case passes when EpollServer's rounds pass; peers' failures are reported, not ours to fix.
    public bool Passed => Servers.Where(s => s.IsEpollServer).All(s => s.Passed);

    // EpollServer as it ships; in the scaling suite, its first variant (one reactor).
    public PeerSummary? Reference => Servers.FirstOrDefault(s => s.Server == Bench.Peers.EpollServer) ?? Servers.FirstOrDefault(s => s.IsEpollServer);
}

internal sealed class PeerSummary
{
    public required string Server { get; init; }

    public required string Description { get; init; }

    public List<RunResult> Rounds { get; } = [];

    public List<string> Failures { get; } = [];   // a round that could not run at all (the server did not start)

    public List<int?> ExitCodes { get; } = [];

    // How this server was built and launched (its first round's process; every round runs the same command).
    public ProcessBuild? Build { get; set; }

    public bool IsEpollServer => Server.StartsWith(Bench.Peers.EpollServer, StringComparison.Ordinal);

    public bool Passed => Failures.Count == 0 && Rounds.Count > 0 && Rounds.TrueForAll(r => r.Passed)
        && ExitCodes.TrueForAll(code => code == 0);

    public double Throughput => Median(r => r.Throughput);

    public double LatencyMicros(double percentile) => Median(r => RunResult.Micros(r.Stats.Latency.GetValueAtPercentile(percentile)));

    public double MaxMicros => Median(r => RunResult.Micros(r.Stats.Latency.GetMaxValue()));

    public double? ServerCpu => Rounds.Any(r => r.ServerCpu is not null) ? Median(r => r.ServerCpu ?? 0) : null;

    public double? Efficiency => Rounds.Any(r => r.Efficiency is not null) ? Median(r => r.Efficiency ?? 0) : null;

    public double? GeneratorCpu => Rounds.Any(r => r.GeneratorCpu is not null) ? Median(r => r.GeneratorCpu ?? 0) : null;

    public double? ServerCpuShare => Rounds.Any(r => r.ServerCpuShare is not null) ? Median(r => r.ServerCpuShare ?? 0) : null;

    public double? GeneratorCpuShare => Rounds.Any(r => r.GeneratorCpuShare is not null) ? Median(r => r.GeneratorCpuShare ?? 0) : null;

    // The CPUs each was given (every round is started the same way).
    public int? ServerCpuCount => Rounds.FirstOrDefault()?.ServerCpuCount;

    public int? GeneratorCpuCount => Rounds.FirstOrDefault() is { } r ? Math.Min(r.GeneratorCpuCount, r.GeneratorThreads) : null;

    // Judged on the medians, by the one rule (Saturation).
    public bool GeneratorBound => Saturation.IsGeneratorBound(ServerCpuShare, GeneratorCpuShare);

    // Round-to-round spread of the figures the README quotes: (min, max), or null without rounds.
    public (double Min, double Max)? ThroughputRange => Range(r => r.Throughput);

    public (double Min, double Max)? EfficiencyRange =>
        Rounds.Where(r => r.Efficiency is not null).Select(r => r.Efficiency!.Value).ToList() is { Count: > 0 } values ? (values.Min(), values.Max()) : null;

    public (double Min, double Max)? LatencyRange(double percentile) => Range(r => RunResult.Micros(r.Stats.Latency.GetValueAtPercentile(percentile)));

    private (double Min, double Max)? Range(Func<RunResult, double> value) =>
        Rounds.Count == 0 ? null : (Rounds.Min(value), Rounds.Max(value));

    public double? ServerRssMiB => Rounds.Any(r => r.ServerAfter is not null) ? Median(r => (r.ServerAfter?.RssBytes ?? 0) / 1048576.0) : null;

    public double? PerConnectionBytes => Rounds.Any(r => r.PerConnectionBytes is not null) ? Median(r => r.PerConnectionBytes ?? 0) : null;

    public long Errors => Rounds.Sum(r => r.Stats.ErrorTotal);

    // The round whose throughput is the median: its timeline and figures stand for the server in the charts.
    public RunResult? MedianRound => Rounds.OrderBy(r => r.Throughput).ElementAtOrDefault(Rounds.Count / 2);

    public string Problems()
    {
        var problems = new List<string>(Failures);
        foreach (RunResult round in Rounds)
        {
            if (round.Stats.ErrorTotal > 0)
                problems.Add($"errors: {round.ErrorSummary()}");
            problems.AddRange(round.Checks.Where(c => !c.Passed).Select(c => $"{c.Name}: {c.Detail}"));
        }
        problems.AddRange(ExitCodes.Where(code => code != 0).Select(code => code is null ? "killed after SIGTERM timeout" : $"exit code {code}"));
        return string.Join("; ", problems.Distinct());
    }

    private double Median(Func<RunResult, double> value)
    {
        if (Rounds.Count == 0)
            return 0;
        var values = Rounds.Select(value).Order().ToList();
        int middle = values.Count / 2;
        return values.Count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    }
}

internal sealed record MachineInfo(string Cpu, int Cores, string Memory, string Kernel, string Runtime, string Os)
{
    public static MachineInfo Describe()
    {
        string cpu = ReadFirst("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString();
        string? memory = ReadFirst("/proc/meminfo", "MemTotal");
        string kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "unknown";
        string memoryText = memory is null ? "unknown" : $"{long.Parse(memory.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]) / 1048576.0:0.0} GiB";
        return new MachineInfo(cpu, Environment.ProcessorCount, memoryText, kernel, RuntimeInformation.FrameworkDescription,
            RuntimeInformation.OSDescription);
    }

    private static string? ReadFirst(string path, string key)
    {
        if (!File.Exists(path))
            return null;
        foreach (string line in File.ReadLines(path))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
                return line[(line.IndexOf(':') + 1)..].Trim();
        }
        return null;
    }

    public override string ToString() => $"{Cpu}, {Cores} CPUs, {Memory} RAM, Linux {Kernel}, {Runtime}";
}
