// The report's charts, drawn with ScottPlot: throughput per server, each server's latency distribution (HdrHistogram
// percentiles on log axes, as HdrHistogram's own plotter draws them), replies per second over time, and plain time
// series (the soak's RSS and fds). Each goes into the HTML page as SVG and beside it as a PNG file. ScottPlot draws
// text with the system's fonts and draws none, silently, when there are none: fonts-dejavu-core must be installed.
using HdrHistogram;
using EpollServer.LoadTests.Engine;
using ScottPlot;

namespace EpollServer.LoadTests.Reports;

internal static class Charts
{
    public const int Width = 760;
    public const int Height = 280;

    private static readonly string[] Palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

    // One colour per server name, the same in every chart of a report.
    public static Func<string, Color> Colors(IEnumerable<string> servers)
    {
        var names = servers.Distinct().ToList();
        return server => Color.FromHex(Palette[Math.Max(0, names.IndexOf(server)) % Palette.Length]);
    }

    // A case's charts, named as their PNG files are; no timeline where no round counted its seconds (wrk's).
    public static IEnumerable<(string Name, Plot Plot)> ForCase(CaseReport item, Func<string, Color> color)
    {
        yield return ($"{item.Id}-throughput.png", Throughput(item, color));
        yield return ($"{item.Id}-latency.png", Latency(item, color));
        if (item.Servers.Any(s => s.MedianRound is { } round && round.Stats.CompletedPerSecond.Length > 0))
            yield return ($"{item.Id}-timeline.png", Timeline(item, color));
    }

    public static Plot Throughput(CaseReport item, Func<string, Color> color)
    {
        var plot = Titled("throughput (per second, median round)");
        var bars = item.Servers.Select((s, i) => new Bar
        {
            Position = item.Servers.Count - 1 - i,   // the first server at the top
            Value = s.Throughput,
            FillColor = color(s.Server),
            Label = ReportWriter.Number(s.Throughput),
        }).ToList();
        plot.Add.Bars(bars).Horizontal = true;
        plot.Axes.Left.SetTicks([.. bars.Select(b => b.Position)], [.. item.Servers.Select(s => s.Server)]);
        plot.Axes.SetLimitsX(0, Math.Max(1, item.Servers.Max(s => s.Throughput)) * 1.2);   // room for the labels
        return plot;
    }

    // x: the percentile as 1/(1-p) on a log scale (50%, 90%, 99%, ... evenly spaced), y: microseconds, log scale.
    public static Plot Latency(CaseReport item, Func<string, Color> color)
    {
        var plot = Titled("latency by percentile (µs, median round)");
        double tail = 0;
        foreach (PeerSummary server in item.Servers)
        {
            if (server.MedianRound?.Stats.Latency is not { TotalCount: > 0 } histogram)
                continue;
            var points = histogram.Percentiles(5).Where(v => v.PercentileLevelIteratedTo < 100)
                .Select(v => (X: Math.Log10(100 / (100 - v.PercentileLevelIteratedTo)), Y: Math.Log10(Math.Max(1, RunResult.Micros(v.ValueIteratedTo)))))
                .ToList();
            var line = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray(), color(server.Server));
            line.LegendText = server.Server;
            line.MarkerSize = 0;
            line.LineWidth = 2;
            tail = Math.Max(tail, points.Count == 0 ? 0 : points.Max(p => p.X));
        }
        int nines = Math.Max(2, (int)Math.Ceiling(tail));
        double[] ticks = [Math.Log10(2), .. Enumerable.Range(1, nines).Select(n => (double)n)];
        plot.Axes.Bottom.SetTicks(ticks, ["50%", .. Enumerable.Range(1, nines).Select(NinesLabel)]);
        plot.XLabel("percentile");
        plot.YLabel("µs");
        LogAxis(plot.Axes.Left);
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    // Replies per second in each second of the median round; the dashed line is where measuring began.
    public static Plot Timeline(CaseReport item, Func<string, Color> color)
    {
        var plot = Titled("replies per second over time (median round)");
        RunResult? first = null;
        foreach (PeerSummary server in item.Servers)
        {
            // wrk reports no per-second counts: its rounds have no line here.
            if (server.MedianRound is not { } round || round.Stats.CompletedPerSecond.Length == 0)
                continue;
            first ??= round;
            long[] perSecond = round.Stats.CompletedPerSecond;
            int seconds = LastBusySecond(perSecond) + 1;
            var line = plot.Add.Scatter(Enumerable.Range(0, seconds).Select(s => s + 0.5).ToArray(),
                perSecond.Take(seconds).Select(v => (double)v).ToArray(), color(server.Server));
            line.LegendText = server.Server;
            line.LineWidth = 2;
        }
        if (first is not null)
            DashedLine(plot, (first.Plan.RampUp + first.Plan.Warmup).TotalSeconds);
        plot.XLabel("second");
        plot.Axes.SetLimitsY(0, double.NaN);
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    // One time series (x in seconds), with a dashed line at `markAt` (the end of the warm-up).
    public static Plot Series(string title, IReadOnlyList<(double X, double Y)> points, double markAt, int colorIndex)
    {
        var plot = Titled(title);
        var line = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray(), Color.FromHex(Palette[colorIndex % Palette.Length]));
        line.MarkerSize = 0;
        line.LineWidth = 2;
        DashedLine(plot, markAt);
        plot.XLabel("second");
        return plot;
    }

    // Several named time series on one chart (the soak's daemons), with a legend and the warm-up's dashed line.
    public static Plot Series(string title, IReadOnlyList<(string Name, IReadOnlyList<(double X, double Y)> Points)> series, double markAt)
    {
        var plot = Titled(title);
        for (int i = 0; i < series.Count; i++)
        {
            var line = plot.Add.Scatter(series[i].Points.Select(p => p.X).ToArray(), series[i].Points.Select(p => p.Y).ToArray(),
                Color.FromHex(Palette[i % Palette.Length]));
            line.MarkerSize = 0;
            line.LineWidth = 2;
            line.LegendText = series[i].Name;
        }
        DashedLine(plot, markAt);
        plot.XLabel("second");
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    // SVG for inlining in a page: no XML declaration.
    public static string Svg(Plot plot)
    {
        string svg = plot.GetSvgXml(Width, Height);
        int start = svg.IndexOf("<svg", StringComparison.Ordinal);
        return start > 0 ? svg[start..] : svg;
    }

    public static string Png(Plot plot, string folder, string name)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, name);
        plot.SavePng(path, Width, Height);
        return path;
    }

    private static Plot Titled(string title)
    {
        var plot = new Plot();
        plot.Title(title, size: 14);
        plot.Font.Set("DejaVu Sans");
        return plot;
    }

    // Log10 values on the axis, labelled as the values themselves, with minor ticks between the decades.
    private static void LogAxis(ScottPlot.IAxis axis) =>
        axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => ReportWriter.Number(Math.Pow(10, y)),
        };

    private static string NinesLabel(int nines) => nines == 1 ? "90%" : "99" + (nines > 2 ? "." + new string('9', nines - 2) : "") + "%";

    private static void DashedLine(Plot plot, double x)
    {
        var line = plot.Add.VerticalLine(x, 1, Color.FromHex("#999999"));
        line.LinePattern = LinePattern.Dashed;
    }

    private static int LastBusySecond(long[] perSecond)
    {
        for (int i = perSecond.Length - 1; i >= 0; i--)
        {
            if (perSecond[i] > 0)
                return i;
        }
        return 0;
    }
}
