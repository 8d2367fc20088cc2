// `epollserver-load run SCENARIO`: one scenario against one server. Without --target it starts the server itself
// (EpollServer by default, or any peer with --server), pinned apart from the generator, and measures its process.
using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using EpollServer.LoadTests.Bench;
using EpollServer.LoadTests.Engine;
using EpollServer.LoadTests.Reports;
using EpollServer.LoadTests.Scenarios;

namespace EpollServer.LoadTests.Cli;

internal static class RunCommand
{
    private static readonly Argument<string> ScenarioName = new("scenario") { Description = "echo, line, reverse, chat, churn or idle" };
    private static readonly Option<string?> Target = new("--target") { Description = "HOST:PORT of a running server (default: start one)" };
    private static readonly Option<int?> ServerPid = new("--server-pid") { Description = "the running server's pid, to sample its RSS, CPU and fds" };
    private static readonly Option<string> Server = new("--server") { Description = "which server to start without --target", DefaultValueFactory = _ => Peers.EpollServer };

    public static Command Create()
    {
        var command = new Command("run", "Run one load scenario and write its report");
        command.Arguments.Add(ScenarioName);
        command.Options.Add(Target);
        command.Options.Add(ServerPid);
        command.Options.Add(Server);
        LoadOptions.AddTo(command);
        command.SetAction(parsed => Run(parsed));
        return command;
    }

    // HOST:PORT with HOST an address or a name (a compose service: `server:7007`), IPv4 first as the clients do.
    private static IPEndPoint ResolveTarget(string text)
    {
        if (IPEndPoint.TryParse(text, out IPEndPoint? literal) && literal.Port != 0)
            return literal;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), out int port) || port is < 1 or > 65535)
            throw new ArgumentException($"--target '{text}' is not HOST:PORT (an address or a name, and a port)");
        string host = text[..colon];
        try
        {
            IPAddress address = Dns.GetHostAddresses(host).OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).First();
            return new IPEndPoint(address, port);
        }
        catch (Exception e) when (e is SocketException or InvalidOperationException)
        {
            throw new ArgumentException($"--target '{text}': cannot resolve {host}");
        }
    }

    private static int Run(ParseResult parsed)
    {
        Scenario scenario;
        Peer? server = null;
        IPEndPoint? target = null;
        try
        {
            scenario = ScenarioCatalog.Find(parsed.GetValue(ScenarioName)!);
            if (parsed.GetValue(Target) is { } text)
                target = ResolveTarget(text);
            else
                server = Peers.Find(parsed.GetValue(Server)!);
            if (server is not null && !server.Serves(scenario.Protocol))
                throw new ArgumentException($"{server.Name} serves only {string.Join(", ", server.Protocols!)}; {scenario.Name} needs {scenario.Protocol}");
        }
        catch (ArgumentException e)
        {
            return Usage(e.Message);
        }
        List<string> errors = LoadOptions.Validate(parsed, scenario.Name);
        if (errors.Count > 0)
            return Usage(string.Join("; ", errors));

        CpuPlan cpus = CpuPlan.From(parsed.GetValue(LoadOptions.ServerCpus), parsed.GetValue(LoadOptions.GeneratorCpus));
        if (target is not null)
            cpus = cpus with { ServerCpus = null };
        if (cpus.PinGenerator() is { } warning)
            Console.Error.WriteLine($"epollserver-load: {warning}");

        var report = new BenchReport
        {
            Title = $"epollserver-load run {scenario.Name}",
            Command = Program.CommandLine,
            Date = DateTimeOffset.UtcNow,
            Machine = MachineInfo.Describe(),
            Pinning = cpus.Describe(),
        };
        var progress = new LiveProgress();
        return CommandFailures.Run(() =>
        {
            progress.Run(() =>
            {
                if (target is not null)
                {
                    LoadPlan plan = LoadOptions.Plan(parsed, target, parsed.GetValue(ServerPid));
                    progress.Announce($"{scenario.Name} against {target}");
                    RunResult result = scenario.Run(plan, target.ToString(), progress.Report);
                    var item = new CaseReport { Id = scenario.Name, Title = $"{scenario.Name} ({plan.ModelDescription}, {plan.Size} B)" };
                    var summary = new PeerSummary { Server = target.ToString(), Description = "a running server" };
                    summary.Rounds.Add(result);
                    item.Servers.Add(summary);
                    report.Cases.Add(item);
                }
                else
                {
                    var runner = new BenchRunner
                    {
                        Servers = [server!],
                        Rounds = 1,
                        BasePlan = LoadOptions.Plan(parsed, new IPEndPoint(IPAddress.Loopback, 0), null),
                        ServerCpus = cpus.ServerCpus,
                        GeneratorCpus = cpus.GeneratorCpus,
                        Announce = progress.Announce,
                        Progress = progress.Report,
                    };
                    var plan = runner.BasePlan;
                    runner.Run([new BenchCase(scenario.Name, $"{scenario.Name}, {plan.Size} B", scenario.Name, p => p)], report);
                }
            });
            return Finish(report, parsed.GetValue(LoadOptions.Out)!);
        });
    }

    public static int Finish(BenchReport report, string folder)
    {
        LiveProgress.Summary(report);
        foreach (string path in ReportWriter.WriteAll(report, folder))
            Console.WriteLine($"wrote {path}");
        if (!report.Passed)
        {
            Console.Error.WriteLine("epollserver-load: FAILED: errors or failed checks (see the notes)");
            return 1;
        }
        return 0;
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"epollserver-load: {message}");
        return 2;
    }
}
