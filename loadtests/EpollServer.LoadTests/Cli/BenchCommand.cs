// `epollserver-load bench`: the same cases against every server in interleaved rounds; medians and ratios to
// EpollServer; the reports in loadtests/results/.
using System.CommandLine;
using System.Net;
using EpollServer.LoadTests.Bench;
using EpollServer.LoadTests.Reports;

namespace EpollServer.LoadTests.Cli;

internal static class BenchCommand
{
    private static readonly Option<string> Suite = new("--suite")
    {
        Description = "quick (the headline echo case), full (every case) or scaling (1, 2, 4, ... reactors on half the CPUs, the generator on the other half) http (wrk against nginx and Kestrel) or backplane (chat fan-out on one daemon against two sharing the room through Redis)",
        DefaultValueFactory = _ => "quick",
    };
    private static readonly Option<string?> Cases = new("--cases") { Description = "only these case ids, comma-separated (see `list`)" };
    private static readonly Option<string?> Servers = new("--servers")
    {
        Description = "servers, comma-separated (see `list`); default: " + string.Join(',', Peers.All.Where(p => p.InDefaultBench).Select(p => p.Name)) +
            " (scaling: epollserver-rN and c-epoll-tN)",
    };
    private static readonly Option<int> Rounds = new("--rounds") { Description = "interleaved rounds per server; medians are reported", DefaultValueFactory = _ => 3 };

    public static Command Create()
    {
        var command = new Command("bench", "Run cases against EpollServer and its peers side by side");
        foreach (Option option in new Option[] { Suite, Cases, Servers, Rounds })
            command.Options.Add(option);
        LoadOptions.AddTo(command);
        command.SetAction(parsed => Run(parsed));
        return command;
    }

    private static int Run(ParseResult parsed)
    {
        IReadOnlyList<BenchCase> cases;
        List<Peer> servers;
        try
        {
            cases = BenchSuite.Named(parsed.GetValue(Suite)!, parsed.GetValue(Cases));
            servers = ChooseServers(parsed);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"epollserver-load: {e.Message}");
            return 2;
        }
        if (parsed.GetValue(Rounds) is < 1 or > 100)
        {
            Console.Error.WriteLine("epollserver-load: --rounds must be between 1 and 100");
            return 2;
        }
        List<string> errors = LoadOptions.Validate(parsed, "echo");
        if (errors.Count > 0)
        {
            Console.Error.WriteLine($"epollserver-load: {string.Join("; ", errors)}");
            return 2;
        }
        try
        {
            ProcessBuild.RefuseUnoptimizedGenerator();
        }
        catch (UnoptimizedBuildException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        CpuPlan cpus = CpuPlan.From(parsed.GetValue(LoadOptions.ServerCpus), parsed.GetValue(LoadOptions.GeneratorCpus));
        if (cpus.PinGenerator() is { } warning)
            Console.Error.WriteLine($"epollserver-load: {warning}");
        var report = new BenchReport
        {
            Title = "EpollServer side-by-side benchmark",
            Command = Program.CommandLine,
            Date = DateTimeOffset.UtcNow,
            Machine = MachineInfo.Describe(),
            Pinning = cpus.Describe(),
        };
        var progress = new LiveProgress();
        var runner = new BenchRunner
        {
            Servers = servers,
            Rounds = parsed.GetValue(Rounds),
            BasePlan = LoadOptions.Plan(parsed, new IPEndPoint(IPAddress.Loopback, 0), null) is var plan && IsScaling(parsed) && parsed.GetResult(LoadOptions.Threads) is null
                ? plan with { Threads = ScalingCpus() }   // a generator loop per generator CPU, to keep up with N reactors
                : plan,
            ServerCpus = cpus.ServerCpus,
            GeneratorCpus = cpus.GeneratorCpus,
            Announce = progress.Announce,
            Progress = progress.Report,
        };
        return CommandFailures.Run(() =>
        {
            progress.Run(() => runner.Run(cases, report));
            return RunCommand.Finish(report, parsed.GetValue(LoadOptions.Out)!);
        });
    }

    private static bool IsScaling(ParseResult parsed) => parsed.GetValue(Suite) == "scaling";

    // Half the machine, for the servers (the generator takes the other half by default).
    private static int ScalingCpus() => Math.Max(1, Environment.ProcessorCount / 2);

    private static List<Peer> ChooseServers(ParseResult parsed)
    {
        IReadOnlyList<Peer> scaling = Peers.Scaling(ScalingCpus());
        if (parsed.GetValue(Servers) is not { } names)
        {
            return IsScaling(parsed) ? [.. scaling]
                : parsed.GetValue(Suite) == "backplane" ? [.. BenchSuite.BackplaneServers.Select(Peers.Find)]
                : [.. Peers.All.Where(p => p.InDefaultBench)];
        }
        return [.. names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(name => scaling.FirstOrDefault(p => p.Name == name) ?? Peers.Find(name))];
    }
}
