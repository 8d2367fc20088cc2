// What a bench report says limited each figure, and how it gives its spread: the generator-bound rule (one place,
// Saturation), CPU as a share of the CPUs each process could use, the mark in every report form, and medians with
// their round-to-round range. The rounds are built here with known figures, so every expected value is literal.
using System.Net;
using System.Text.Json;
using EpollServer.LoadTests.Engine;
using EpollServer.LoadTests.Reports;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public class BenchReportTests
{
    [Theory]
    [InlineData(0.89, 0.95, true)]
    [InlineData(0.50, 1.00, true)]
    [InlineData(0.90, 0.99, false)]    // the server at 90 % is busy enough to be its own limit
    [InlineData(0.50, 0.949, false)]   // a generator below 95 % was not the limit
    [InlineData(1.00, 1.00, false)]
    public void GeneratorBound_IsAServerBelow90Percent_WithTheGeneratorAtOrAbove95(double server, double generator, bool bound) =>
        Assert.Equal(bound, Saturation.IsGeneratorBound(server, generator));

    [Fact]
    public void AnUnmeasuredShare_IsNeverGeneratorBound()
    {
        Assert.False(Saturation.IsGeneratorBound(null, 1.0));
        Assert.False(Saturation.IsGeneratorBound(0.1, null));
    }

    [Fact]
    public void CpuShares_AreOfTheCpusGiven_AndAGeneratorCountsNoMoreCpusThanItHasThreads()
    {
        // One generator loop at 97 % of a core on two CPUs: saturated (it cannot use the second CPU).
        RunResult oneLoop = Round(50_000, serverCpu: 0.5, generatorCpu: 0.97, generatorThreads: 1, serverCpus: 1, generatorCpus: 2);
        Assert.Equal(0.5, oneLoop.ServerCpuShare!.Value, 6);
        Assert.Equal(0.97, oneLoop.GeneratorCpuShare!.Value, 6);
        Assert.True(oneLoop.GeneratorBound);
        // Two loops on the same two CPUs at the same 97 % of one core: half their capacity, not the limit.
        RunResult twoLoops = Round(50_000, serverCpu: 0.5, generatorCpu: 0.97, generatorThreads: 2, serverCpus: 1, generatorCpus: 2);
        Assert.Equal(0.485, twoLoops.GeneratorCpuShare!.Value, 6);
        Assert.False(twoLoops.GeneratorBound);
        // A server on two CPUs using 1.5 cores is at 75 % of them.
        Assert.Equal(0.75, Round(1, serverCpu: 1.5, generatorCpu: 0.2, generatorThreads: 1, serverCpus: 2, generatorCpus: 1).ServerCpuShare!.Value, 6);
    }

    [Fact]
    public void WithRange_GivesTheMedianAndItsMinMax_OnlyWhenThereWasMoreThanOneRound()
    {
        Assert.Equal("150,096 (140,000-160,500)", ReportWriter.WithRange(150_096, (140_000, 160_500.4), 3, ReportWriter.Number));
        Assert.Equal("150,096", ReportWriter.WithRange(150_096, (150_096, 150_096), 1, ReportWriter.Number));
        Assert.Equal("120.0 (95.5-2,500)", ReportWriter.WithRange(120, (95.5, 2_500), 3, ReportWriter.Micros));
        Assert.Equal("98% of 1", ReportWriter.CpuOf(0.981, 1));
    }

    [Fact]
    public void AGeneratorBoundServer_IsMarkedInEveryReportForm_AndItsRangesAreThere()
    {
        BenchReport report = Report(
            ("epollserver", [Round(100, 0.95, 0.60), Round(300, 0.97, 0.62), Round(200, 0.96, 0.61)]),
            ("sockets", [Round(80, 0.50, 0.99), Round(90, 0.52, 0.98), Round(85, 0.51, 0.97)]));
        using var temp = TempFolder.Create("bench-report");
        ReportWriter.WriteAll(report, temp.Path);

        string md = File.ReadAllText(Path.Combine(temp.Path, "report.md"));
        string epollRow = md.Split('\n').Single(l => l.StartsWith("| epollserver |", StringComparison.Ordinal));
        string socketsRow = md.Split('\n').Single(l => l.StartsWith("| sockets |", StringComparison.Ordinal));
        Assert.Contains("| 200 (100-300) |", epollRow);
        Assert.Contains("| 96% of 1 |", epollRow);
        Assert.DoesNotContain("**yes**", epollRow);
        Assert.Contains("| 85 (80-90) |", socketsRow);
        Assert.Contains("| 98% of 1 | **yes** |", socketsRow);
        Assert.Contains("\nGenerator-bound: sockets (below 90", md);
        Assert.Contains("## How each program was built and run", md);

        string[] csv = File.ReadAllLines(Path.Combine(temp.Path, "report.csv"));
        int column = Array.IndexOf(csv[0].Split(','), "generator_bound");
        Assert.Equal(["no", "no", "no", "yes", "yes", "yes"], csv.Skip(1).Select(l => l.Split(',')[column]).ToArray());

        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(temp.Path, "report.json")));
        JsonElement servers = json.RootElement.GetProperty("cases")[0].GetProperty("servers");
        Assert.False(servers[0].GetProperty("generatorBound").GetBoolean());
        Assert.True(servers[1].GetProperty("generatorBound").GetBoolean());
        Assert.Equal(80, servers[1].GetProperty("range").GetProperty("perSecond")[0].GetDouble());
        Assert.Equal(90, servers[1].GetProperty("range").GetProperty("perSecond")[1].GetDouble());

        string html = File.ReadAllText(Path.Combine(temp.Path, "report.html"));
        Assert.Contains("Generator-bound: sockets", html);
        Assert.Contains("<td>85 (80-90)</td>", html);
    }

    // A round with `throughput` replies a second over a 1 s window, CPU shares as given, and one latency sample.
    private static RunResult Round(double throughput, double serverCpu, double generatorCpu, int generatorThreads = 1, int serverCpus = 1, int generatorCpus = 1)
    {
        var stats = new LoadStats(new RunClock(TimeSpan.Zero, TimeSpan.FromSeconds(1)), 1) { CompletedInWindow = (long)throughput };
        stats.Latency.RecordValue(100_000);
        return new RunResult
        {
            Scenario = "echo",
            Server = "test",
            Plan = new LoadPlan { Target = new IPEndPoint(IPAddress.Loopback, 1) },
            Stats = stats,
            WindowSeconds = 1,
            ServerCpu = serverCpu,
            GeneratorCpu = generatorCpu,
            GeneratorThreads = generatorThreads,
            ServerCpuCount = serverCpus,
            GeneratorCpuCount = generatorCpus,
        };
    }

    private static BenchReport Report(params (string Server, RunResult[] Rounds)[] servers)
    {
        var report = new BenchReport { Title = "test", Command = "test", Date = DateTimeOffset.UnixEpoch, Machine = MachineInfo.Describe(), Pinning = "test" };
        var item = new CaseReport { Id = "echo-test", Title = "echo test" };
        foreach (var (server, rounds) in servers)
        {
            var summary = new PeerSummary { Server = server, Description = server };
            summary.Rounds.AddRange(rounds);
            item.Servers.Add(summary);
        }
        report.Cases.Add(item);
        return report;
    }
}
