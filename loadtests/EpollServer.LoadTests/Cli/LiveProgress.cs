// Progress while a run goes: on a terminal a live line (Spectre.Console) with the phase, elapsed time, current rate
// and errors; elsewhere (CI, pipes) a plain line every second. And the summary table at the end.
using EpollServer.LoadTests.Engine;
using EpollServer.LoadTests.Reports;
using Spectre.Console;

namespace EpollServer.LoadTests.Cli;

internal sealed class LiveProgress
{
    private readonly bool _interactive = AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;
    private LiveDisplayContext? _live;
    private string _label = "";
    private DateTime _lastPlain;

    public void Run(Action work)
    {
        if (!_interactive)
        {
            work();
            return;
        }
        AnsiConsole.Live(new Markup("starting")).AutoClear(true).Start(context =>
        {
            _live = context;
            work();
            _live = null;
        });
    }

    public void Announce(string label)
    {
        _label = label;
        if (!_interactive)
            Console.WriteLine(label);
    }

    public void Report(RunProgress p)
    {
        string total = p.Total > 0 ? $"/{p.Total:0}" : "";
        string text = $"{p.Phase,-7} {p.Elapsed,5:0.0}{total} s  {p.Rate,12:#,0}/s  replies {p.Completed,12:#,0}  errors {p.Errors}  ready {p.Ready}";
        if (_live is not null)
        {
            string color = p.Errors > 0 ? "red" : "green";
            _live.UpdateTarget(new Markup($"[bold]{Markup.Escape(_label)}[/]\n[{color}]{Markup.Escape(text)}[/]"));
            return;
        }
        if (!_interactive && DateTime.UtcNow - _lastPlain >= TimeSpan.FromSeconds(1))
        {
            _lastPlain = DateTime.UtcNow;
            Console.WriteLine("  " + text);
        }
    }

    public static void Summary(BenchReport report)
    {
        foreach (CaseReport item in report.Cases)
        {
            var table = new Table().Title(Markup.Escape(item.Title)).Border(TableBorder.Rounded);
            foreach (string column in new[] { "server", "per second", "vs EpollServer", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "server CPU", "generator CPU", "generator-bound", "errors", "notes" })
                table.AddColumn(column);
            foreach (PeerSummary server in item.Servers)
            {
                table.AddRow(
                    Markup.Escape(server.Server),
                    ReportWriter.Number(server.Throughput),
                    ReportWriter.Ratio(server, item.Reference),
                    ReportWriter.Micros(server.LatencyMicros(50)),
                    ReportWriter.Micros(server.LatencyMicros(99)),
                    ReportWriter.Micros(server.LatencyMicros(99.9)),
                    ReportWriter.Micros(server.MaxMicros),
                    ReportWriter.CpuOf(server.ServerCpuShare, server.ServerCpuCount),
                    ReportWriter.CpuOf(server.GeneratorCpuShare, server.GeneratorCpuCount),
                    server.GeneratorBound ? "yes" : "",
                    server.Errors.ToString(),
                    Markup.Escape(Shorten(server.Problems())));
            }
            AnsiConsole.Write(table);
            foreach (PeerSummary server in item.Servers)
            {
                foreach ((string name, string value) in server.MedianRound?.Figures ?? [])
                    AnsiConsole.MarkupLine($"  {Markup.Escape(server.Server)}: {Markup.Escape(name)} = {Markup.Escape(value)}");
            }
        }
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..77] + "...";
}
