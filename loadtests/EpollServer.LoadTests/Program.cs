// `epollserver-load`: run a scenario, bench servers side by side, or list what there is.
using System.CommandLine;
using EpollServer.LoadTests.Bench;
using EpollServer.LoadTests.Cli;
using EpollServer.LoadTests.Scenarios;

namespace EpollServer.LoadTests;

internal static class Program
{
    public static string CommandLine { get; private set; } = "epollserver-load";

    public static int Main(string[] args)
    {
        if (Console.IsOutputRedirected)
        {
            // Logs and CI: plain text, wide enough that the summary tables keep one row per server.
            Spectre.Console.AnsiConsole.Profile.Capabilities.Ansi = false;
            Spectre.Console.AnsiConsole.Profile.Width = 200;
        }
        CommandLine = "epollserver-load " + string.Join(' ', args.Select(a => a.Contains(' ') ? $"'{a}'" : a));
        var root = new RootCommand("Load scenarios and the side-by-side benchmark for EpollServer");
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(SoakCommand.Create());
        var list = new Command("list", "List the scenarios, bench cases and servers");
        list.SetAction(_ => List());
        root.Subcommands.Add(list);
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
                Console.Error.WriteLine($"epollserver-load: {error.Message}");
            return 2;
        }
        return parsed.Invoke();
    }

    private static int List()
    {
        Console.WriteLine("scenarios (run SCENARIO):");
        foreach (Scenario scenario in ScenarioCatalog.All)
            Console.WriteLine($"  {scenario.Name,-9} [{scenario.Protocol}] {scenario.Summary}");
        Console.WriteLine("bench cases (bench --cases ID; * = the quick suite):");
        foreach (BenchCase item in BenchSuite.Full.Concat(BenchSuite.Scaling).DistinctBy(c => c.Id))
            Console.WriteLine($"  {item.Id,-24}{(item.Id == BenchSuite.HeadlineId ? "*" : " ")} {item.Title}{(BenchSuite.Full.Contains(item) ? "" : " (scaling)")}");
        Console.WriteLine("servers (run --server NAME, bench --servers A,B; the scaling suite's for this machine last):");
        foreach (Peer peer in Peers.All.Concat(Peers.Scaling(Math.Max(1, Environment.ProcessorCount / 2))))
            Console.WriteLine($"  {peer.Name,-21} {peer.Description}");
        return 0;
    }
}
