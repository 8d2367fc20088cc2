// The outcome of one run of one scenario against one server: throughput, latency, errors, what the server's
// process looked like, and the checks that decide pass or fail.
namespace EpollServer.LoadTests.Engine;

internal sealed record RunCheck(string Name, bool Passed, string Detail);

internal sealed class RunResult
{
    public required string Scenario { get; init; }

    public required string Server { get; init; }

    public required LoadPlan Plan { get; init; }

    public required LoadStats Stats { get; init; }

    public double WindowSeconds { get; init; }

    public int ConnectionsRequested { get; init; }

    public int ConnectionsReady { get; init; }

    public ProcessSample? ServerBefore { get; init; }

    public ProcessSample? ServerAfter { get; set; }

    public double? ServerCpu { get; init; }      // share of one core during the measured window

    public double? GeneratorCpu { get; init; }   // share of one core, the generator's process (ours, or wrk's)

    // The generator's threads that can each keep a CPU busy (our loops, or wrk's threads): it cannot use more CPUs.
    public int GeneratorThreads { get; init; } = 1;

    // The CPUs each was given (taskset lists' lengths; every CPU when not pinned), set by whoever started them.
    public int ServerCpuCount { get; set; } = Environment.ProcessorCount;

    public int GeneratorCpuCount { get; set; } = Environment.ProcessorCount;

    // CPU as a share of the CPUs each could use (1.0: all of them busy), and what that says limited the run.
    public double? ServerCpuShare => ServerCpu / ServerCpuCount;

    public double? GeneratorCpuShare => GeneratorCpu / Math.Max(1, Math.Min(GeneratorCpuCount, GeneratorThreads));

    public bool GeneratorBound => Reports.Saturation.IsGeneratorBound(ServerCpuShare, GeneratorCpuShare);

    public List<RunCheck> Checks { get; } = [];

    // The server process sampled once a second through the run (seconds from the clock's start; 0 while connecting).
    public List<(double Second, ProcessSample Sample)> ServerTimeline { get; } = [];

    // Scenario-specific figures (bytes per idle connection, fds after churn, ...), in report order.
    public List<(string Name, string Value)> Figures { get; } = [];

    // Replies (or chat deliveries, or connect/close cycles) per second in the measured window.
    public double Throughput => WindowSeconds <= 0 ? 0 : Stats.CompletedInWindow / WindowSeconds;

    // Replies per second of server CPU (all its threads): what a server costs per reply, whatever else shares the
    // machine. On 2 cores a generator beside the server caps raw throughput; this still compares servers fairly.
    public double? Efficiency => ServerCpu is > 0 ? Throughput / ServerCpu : null;

    public double? PerConnectionBytes { get; set; }

    public bool Passed => Stats.ErrorTotal == 0 && Checks.TrueForAll(c => c.Passed);

    public string ErrorSummary()
    {
        var parts = new List<string>();
        for (int i = 0; i < Stats.Errors.Length; i++)
        {
            if (Stats.Errors[i] > 0)
                parts.Add($"{(LoadError)i}={Stats.Errors[i]}");
        }
        return parts.Count == 0 ? "none" : string.Join(' ', parts);
    }

    public static double Micros(long nanoseconds) => nanoseconds / 1000.0;
}
