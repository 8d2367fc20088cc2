// The options `run` and `bench` share, and the LoadPlan they describe.
using System.CommandLine;
using System.Net;
using EpollServer.LoadTests.Engine;

namespace EpollServer.LoadTests.Cli;

internal static class LoadOptions
{
    public static readonly Option<int> Connections = new("--connections", "-c") { Description = "connections (chat: receivers; churn: slots)", DefaultValueFactory = _ => 64 };
    public static readonly Option<int> Size = new("--size", "-s") { Description = "bytes per request, newline included", DefaultValueFactory = _ => 64 };
    public static readonly Option<int> Depth = new("--depth", "-d") { Description = "closed model: requests in flight per connection (chat: the sender's window)", DefaultValueFactory = _ => 1 };
    public static readonly Option<double> Rate = new("--rate", "-r") { Description = "open model: requests per second in all (0: closed model)" };
    public static readonly Option<double> RampUp = new("--ramp-up") { Description = "seconds over which connections start (closed) or the rate climbs (open)" };
    public static readonly Option<double> Warmup = new("--warmup") { Description = "seconds of load not measured", DefaultValueFactory = _ => 2 };
    public static readonly Option<double> Duration = new("--duration") { Description = "seconds measured", DefaultValueFactory = _ => 10 };
    public static readonly Option<int> Threads = new("--threads", "-t") { Description = "generator loop threads", DefaultValueFactory = _ => 1 };
    public static readonly Option<string?> ServerCpus = new("--server-cpus") { Description = "CPUs for a server this command starts (taskset list, or none); default: the first half" };
    public static readonly Option<string?> GeneratorCpus = new("--generator-cpus") { Description = "CPUs for the generator (or none); default: the second half" };
    public static readonly Option<string> Out = new("--out", "-o") { Description = "folder for the reports (Markdown, CSV, JSON, HTML)", DefaultValueFactory = _ => "loadtests/results/latest-run" };

    public static void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Connections, Size, Depth, Rate, RampUp, Warmup, Duration, Threads, ServerCpus, GeneratorCpus, Out })
            command.Options.Add(option);
    }

    // Checks every value up front: a bad option is one clear line, not an exception halfway through a run.
    public static List<string> Validate(ParseResult parsed, string scenario)
    {
        var errors = new List<string>();
        if (parsed.GetValue(Connections) < 1)
            errors.Add("--connections must be at least 1");
        int minimum = scenario == "chat" ? ChatSender.MinimumSize : MessageFormat.MinimumSize;
        if (parsed.GetValue(Size) < minimum || parsed.GetValue(Size) > 1 << 20)
            errors.Add($"--size must be between {minimum} and 1048576 for {scenario}");
        if (parsed.GetValue(Depth) < 1 || parsed.GetValue(Depth) > 4096)
            errors.Add("--depth must be between 1 and 4096");
        if (parsed.GetValue(Rate) < 0)
            errors.Add("--rate must be 0 (closed model) or more");
        if (parsed.GetValue(RampUp) < 0 || parsed.GetValue(Warmup) < 0)
            errors.Add("--ramp-up and --warmup must be 0 or more");
        if (parsed.GetValue(Duration) is <= 0 or > 86_400)
            errors.Add("--duration must be above 0 and at most a day");
        if (parsed.GetValue(Threads) is < 1 or > 256)
            errors.Add("--threads must be between 1 and 256");
        return errors;
    }

    public static LoadPlan Plan(ParseResult parsed, IPEndPoint target, int? serverPid) => new()
    {
        Target = target,
        Connections = parsed.GetValue(Connections),
        Size = parsed.GetValue(Size),
        Depth = parsed.GetValue(Depth),
        Rate = parsed.GetValue(Rate),
        RampUp = TimeSpan.FromSeconds(parsed.GetValue(RampUp)),
        Warmup = TimeSpan.FromSeconds(parsed.GetValue(Warmup)),
        Duration = TimeSpan.FromSeconds(parsed.GetValue(Duration)),
        Threads = parsed.GetValue(Threads),
        ServerPid = serverPid,
    };
}
