// `epollserver-load bench`: the same cases against every server in interleaved rounds; medians and ratios to
// EpollServer; the reports in loadtests/results/.
using System.CommandLine;
using System.Net;
using EpollServer.LoadTests.Bench;
using EpollServer.LoadTests.Reports;

namespace EpollServer.LoadTests.Cli;

internal static class BenchCommand
{
    private static readonly Option<string> Suite = new("--suite") { Description = "quick (the headline echo case) or full (every case)", DefaultValueFactory = _ => "quick" };
    private static readonly Option<string?> Cases = new("--cases") { Description = "only these case ids, comma-separated (see `list`)" };
    private static readonly Option<string> Servers = new("--servers") { Description = "servers, comma-separated (see `list`)", DefaultValueFactory = _ => string.Join(',', Peers.All.Where(p => p.InDefaultBench).Select(p => p.Name)) };
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
            servers = parsed.GetValue(Servers)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Peers.Find).ToList();
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
            BasePlan = LoadOptions.Plan(parsed, new IPEndPoint(IPAddress.Loopback, 0), null),
            ServerCpus = cpus.ServerCpus,
            Announce = progress.Announce,
            Progress = progress.Report,
        };
        try
        {
            progress.Run(() => runner.Run(cases, report));
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            Console.Error.WriteLine($"epollserver-load: {e.Message}");
            return 1;
        }
        return RunCommand.Finish(report, parsed.GetValue(LoadOptions.Out)!);
    }
}
