// Runs cases against servers in interleaved rounds (A B C A B C ...), so that drift in the machine (thermal, noisy
// neighbours) spreads over every server instead of favouring whoever ran first. Each round starts the server fresh
// on a free port, runs the case, stops it with SIGTERM and keeps the exit code.
using EpollServer.LoadTests.Engine;
using EpollServer.LoadTests.Reports;
using EpollServer.LoadTests.Scenarios;

namespace EpollServer.LoadTests.Bench;

internal sealed class BenchRunner
{
    private readonly PeerFiles _files = new();

    public required IReadOnlyList<Peer> Servers { get; init; }

    public required int Rounds { get; init; }

    public required LoadPlan BasePlan { get; init; }

    public string? ServerCpus { get; init; }

    public Action<string>? Announce { get; init; }

    public Action<RunProgress>? Progress { get; init; }

    // The generator's CPUs (a taskset list), null when it is not pinned.
    public string? GeneratorCpus { get; init; }

    public void Run(IReadOnlyList<BenchCase> cases, BenchReport report)
    {
        // Every server's build is checked before any load: a Debug peer stops the run in one line, not halfway.
        foreach (Peer server in Servers)
        {
            foreach (string protocol in cases.Select(c => ScenarioCatalog.Find(c.Scenario).Protocol).Distinct().Where(server.Serves).Take(1))
                PeerProcess.RefuseUnoptimized(server, _files, protocol);
        }
        foreach (BenchCase item in cases)
            report.Cases.Add(RunCase(item, report));
    }

    private CaseReport RunCase(BenchCase item, BenchReport report)
    {
        Scenario scenario = ScenarioCatalog.Find(item.Scenario);
        LoadPlan shaped = item.Shape(BasePlan);
        string title = item.Title;
        if (item.AtHalfHeadlineRate)
        {
            double headline = report.Cases.FirstOrDefault(c => c.Id == BenchSuite.HeadlineId)?.Reference?.Throughput ?? 0;
            if (headline <= 0)
                throw new InvalidOperationException($"{item.Id} needs the {BenchSuite.HeadlineId} case to run first (it sets the rate)");
            shaped = shaped with { Rate = Math.Round(headline / 2) };
            title += $": {shaped.Rate:#,0} req/s";
        }
        // Idle connections carry no load model: their only requests are the one probe each at the end.
        var result = new CaseReport { Id = item.Id, Title = scenario.Name == "idle" ? $"{title} (latency: the probe each connection answers at the end)" : $"{title} ({shaped.ModelDescription})" };
        if (scenario.Name == "plaintext" && report.ExternalGenerators.All(g => g.Name != "wrk"))
        {
            report.ExternalGenerators.Add(ProcessBuild.OfExternalGenerator("wrk", WrkRun.Version.Value,
                "each round's own: the case's \"wrk command\" figure", $"CPU {GeneratorCpus ?? "any"} (inherited from the generator's thread)"));
        }
        var servers = Servers.Where(s => s.Serves(scenario.Protocol) && (item.IncludesBlocking || s.Name != "c-blocking")).ToList();
        foreach (Peer server in servers)
            result.Servers.Add(new PeerSummary { Server = server.Name, Description = server.Description });
        for (int round = 1; round <= Rounds; round++)
        {
            foreach (Peer server in servers)
            {
                Announce?.Invoke($"{item.Id}: {server.Name}, round {round} of {Rounds}");
                PeerSummary summary = result.Servers.First(s => s.Server == server.Name);
                RunOnce(scenario, shaped, server, summary);
            }
        }
        return result;
    }

    private static int CpuCount(string? cpus) => cpus is null ? Environment.ProcessorCount : Cli.CpuPlan.List(cpus).Length;

    private void RunOnce(Scenario scenario, LoadPlan shaped, Peer server, PeerSummary summary)
    {
        PeerProcess process;
        try
        {
            process = PeerProcess.Start(server, _files, scenario.Protocol, ServerCpus);
        }
        catch (Exception e) when (e is InvalidOperationException or FileNotFoundException or System.ComponentModel.Win32Exception
            && e is not UnoptimizedBuildException)
        {
            summary.Failures.Add(e.Message);
            return;
        }
        using (process)
        {
            LoadPlan plan = shaped with
            {
                Target = process.EndPoint, ServerPid = process.Pid, CompanionPids = process.CompanionPids, ReceiverTarget = process.ReceiverEndPoint,
            };
            RunResult result = scenario.Run(plan, server.Name, Progress);
            result.ServerCpuCount = CpuCount(server.Cpus ?? ServerCpus);
            result.GeneratorCpuCount = CpuCount(GeneratorCpus);
            summary.Rounds.Add(result);
            summary.Build ??= process.Build;
            summary.ExitCodes.Add(process.Stop());
        }
    }
}
