// The report as one HTML page that opens in a browser with no network: tables plus three inline SVG charts per case
// (throughput side by side, latency percentiles on a log scale, replies per second over time).
using System.Globalization;
using System.Net;
using System.Text;
using EpollServer.LoadTests.Engine;

namespace EpollServer.LoadTests.Reports;

internal static class HtmlReport
{
    private static readonly string[] Palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
    private const int Width = 640;
    private const int Height = 260;
    private const int Left = 150;

    public static string Render(BenchReport report)
    {
        var servers = report.Cases.SelectMany(c => c.Servers.Select(s => s.Server)).Distinct().ToList();
        string Color(string server) => Palette[servers.IndexOf(server) % Palette.Length];

        var html = new StringBuilder();
        html.Append($$"""
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{E(report.Title)}}</title>
            <style>
            body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
            table{border-collapse:collapse;margin:.5em 0 1em} td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
            td:first-child,th:first-child,td.notes{text-align:left} .charts{display:flex;flex-wrap:wrap;gap:1em}
            svg{background:#fafafa;border:1px solid #ddd} text{font-size:11px} .fail{color:#b00}
            </style></head><body>
            <h1>{{E(report.Title)}}</h1>
            <p>{{E(report.Date.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture))}} UTC &middot; {{E(report.Machine.ToString())}} &middot; {{E(report.Pinning)}}<br>
            <code>{{E(report.Command)}}</code></p>
            <p class="{{(report.Passed ? "" : "fail")}}">{{(report.Passed ? "Every EpollServer round passed its checks." : "FAILED: see the notes column.")}}
            Throughput: replies per second in the measured window; per CPU-second: per second of server CPU (all its threads). Latency: from each request's intended send time. Medians of the rounds.</p>
            """);
        foreach (CaseReport item in report.Cases)
        {
            html.Append($"<h2>{E(item.Title)}</h2>\n<table><tr><th>server</th><th>per second</th><th>vs EpollServer</th>");
            foreach (double p in ReportWriter.Percentiles)
                html.Append($"<th>p{p.ToString(CultureInfo.InvariantCulture)} &micro;s</th>");
            html.Append("<th>max &micro;s</th><th>server CPU</th><th>per CPU-second</th><th>vs EpollServer</th><th>errors</th><th>notes</th></tr>\n");
            foreach (PeerSummary server in item.Servers)
            {
                html.Append($"<tr><td style=\"color:{Color(server.Server)}\">&#9632; {E(server.Server)}</td><td>{ReportWriter.Number(server.Throughput)}</td><td>{ReportWriter.Ratio(server, item.Reference)}</td>");
                foreach (double p in ReportWriter.Percentiles)
                    html.Append($"<td>{ReportWriter.Micros(server.LatencyMicros(p))}</td>");
                html.Append($"<td>{ReportWriter.Micros(server.MaxMicros)}</td><td>{(server.ServerCpu is double cpu ? $"{cpu * 100:0}%" : "")}</td><td>{ReportWriter.Optional(server.Efficiency)}</td><td>{ReportWriter.EfficiencyRatio(server, item.Reference)}</td><td>{server.Errors}</td><td class=\"notes\">{E(server.Problems())}</td></tr>\n");
            }
            html.Append("</table>\n<div class=\"charts\">");
            html.Append(ThroughputBars(item, Color));
            html.Append(PercentileChart(item, Color));
            html.Append(Timeline(item, Color));
            html.Append("</div>\n");
        }
        html.Append("</body></html>\n");
        return html.ToString();
    }

    private static string ThroughputBars(CaseReport item, Func<string, string> color)
    {
        int rowHeight = 24;
        int height = 30 + rowHeight * item.Servers.Count;
        double max = Math.Max(1, item.Servers.Max(s => s.Throughput));
        var svg = Start(height, "throughput (per second)");
        for (int i = 0; i < item.Servers.Count; i++)
        {
            PeerSummary server = item.Servers[i];
            double barWidth = (Width - Left - 90) * server.Throughput / max;
            int y = 25 + i * rowHeight;
            svg.Append($"<text x=\"{Left - 6}\" y=\"{y + 14}\" text-anchor=\"end\">{E(server.Server)}</text>");
            svg.Append($"<rect x=\"{Left}\" y=\"{y}\" width=\"{F(barWidth)}\" height=\"{rowHeight - 6}\" fill=\"{color(server.Server)}\"/>");
            svg.Append($"<text x=\"{F(Left + barWidth + 4)}\" y=\"{y + 14}\">{ReportWriter.Number(server.Throughput)}</text>");
        }
        return svg.Append("</svg>").ToString();
    }

    // Percentiles on the x axis (evenly spaced), microseconds on a log y axis.
    private static string PercentileChart(CaseReport item, Func<string, string> color)
    {
        string[] labels = [.. ReportWriter.Percentiles.Select(p => $"p{p.ToString(CultureInfo.InvariantCulture)}"), "max"];
        var series = item.Servers.Select(s => (s.Server, Values: ReportWriter.Percentiles.Select(s.LatencyMicros).Append(s.MaxMicros).ToArray()))
            .Where(s => s.Values.Any(v => v > 0)).ToList();
        var svg = Start(Height, "latency (µs, log scale)");
        if (series.Count == 0)
            return svg.Append("<text x=\"20\" y=\"60\">no latency recorded</text></svg>").ToString();
        double low = Math.Log10(Math.Max(1, series.Min(s => s.Values.Where(v => v > 0).Min())));
        double high = Math.Log10(Math.Max(10, series.Max(s => s.Values.Max())));
        low = Math.Floor(low);
        high = Math.Ceiling(high);
        if (high <= low)
            high = low + 1;
        double X(int i) => 60 + i * (Width - 90) / (double)(labels.Length - 1);
        double Y(double v) => Height - 30 - (Math.Log10(Math.Max(v, 1)) - low) / (high - low) * (Height - 70);
        for (double decade = low; decade <= high; decade++)
        {
            double y = Y(Math.Pow(10, decade));
            svg.Append($"<line x1=\"55\" x2=\"{Width - 20}\" y1=\"{F(y)}\" y2=\"{F(y)}\" stroke=\"#ddd\"/><text x=\"50\" y=\"{F(y + 4)}\" text-anchor=\"end\">{ReportWriter.Micros(Math.Pow(10, decade))}</text>");
        }
        for (int i = 0; i < labels.Length; i++)
            svg.Append($"<text x=\"{F(X(i))}\" y=\"{Height - 12}\" text-anchor=\"middle\">{labels[i]}</text>");
        foreach (var (server, values) in series)
        {
            string points = string.Join(' ', values.Select((v, i) => $"{F(X(i))},{F(Y(v))}"));
            svg.Append($"<polyline fill=\"none\" stroke=\"{color(server)}\" stroke-width=\"2\" points=\"{points}\"><title>{E(server)}</title></polyline>");
        }
        return svg.Append("</svg>").ToString();
    }

    // Replies per second over the median round of each server; the dashed line is where measuring began.
    private static string Timeline(CaseReport item, Func<string, string> color)
    {
        var series = item.Servers.Select(s => (s.Server, Round: s.MedianRound)).Where(s => s.Round is not null).ToList();
        var svg = Start(Height, "per second over time (median round)");
        if (series.Count == 0)
            return svg.Append("</svg>").ToString();
        int seconds = series.Max(s => LastBusySecond(s.Round!.Stats.CompletedPerSecond)) + 1;
        double max = Math.Max(1, series.Max(s => s.Round!.Stats.CompletedPerSecond.Max()));
        double X(double second) => 60 + second * (Width - 90) / Math.Max(1, seconds);
        double Y(double value) => Height - 30 - value / max * (Height - 70);
        svg.Append($"<text x=\"55\" y=\"{F(Y(max) + 4)}\" text-anchor=\"end\">{ReportWriter.Number(max)}</text><text x=\"55\" y=\"{F(Y(0) + 4)}\" text-anchor=\"end\">0</text>");
        svg.Append($"<text x=\"{Width - 20}\" y=\"{Height - 12}\" text-anchor=\"end\">{seconds} s</text>");
        RunResult first = series[0].Round!;
        double warm = (first.Plan.RampUp + first.Plan.Warmup).TotalSeconds;
        svg.Append($"<line x1=\"{F(X(warm))}\" x2=\"{F(X(warm))}\" y1=\"35\" y2=\"{Height - 30}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>");
        foreach (var (server, round) in series)
        {
            long[] perSecond = round!.Stats.CompletedPerSecond;
            string points = string.Join(' ', Enumerable.Range(0, Math.Min(seconds, perSecond.Length)).Select(i => $"{F(X(i + 0.5))},{F(Y(perSecond[i]))}"));
            svg.Append($"<polyline fill=\"none\" stroke=\"{color(server)}\" stroke-width=\"2\" points=\"{points}\"><title>{E(server)}</title></polyline>");
        }
        return svg.Append("</svg>").ToString();
    }

    // A page of time series, one chart each (the soak's RSS and fds), with a summary in <pre> above them.
    public static string RenderSeries(string title, string summary, IReadOnlyList<(string Name, List<(double X, double Y)> Points)> series, double markAt)
    {
        var html = new StringBuilder($"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{E(title)}</title>" +
            "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222} svg{background:#fafafa;border:1px solid #ddd;margin:.5em 0} text{font-size:11px}</style></head><body>");
        html.Append($"<h1>{E(title)}</h1><pre>{E(summary)}</pre>");
        for (int n = 0; n < series.Count; n++)
        {
            var (name, points) = series[n];
            var svg = Start(Height, name);
            if (points.Count > 1)
            {
                double maxX = points.Max(p => p.X), maxY = Math.Max(1, points.Max(p => p.Y)), minY = Math.Min(0, points.Min(p => p.Y));
                double X(double x) => 60 + x * (Width - 90) / Math.Max(1, maxX);
                double Y(double y) => Height - 30 - (y - minY) / (maxY - minY) * (Height - 70);
                svg.Append($"<text x=\"55\" y=\"{F(Y(maxY) + 4)}\" text-anchor=\"end\">{F(maxY)}</text><text x=\"55\" y=\"{F(Y(minY) + 4)}\" text-anchor=\"end\">{F(minY)}</text>");
                svg.Append($"<text x=\"{Width - 20}\" y=\"{Height - 12}\" text-anchor=\"end\">{F(maxX)} s</text>");
                svg.Append($"<line x1=\"{F(X(markAt))}\" x2=\"{F(X(markAt))}\" y1=\"35\" y2=\"{Height - 30}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>");
                svg.Append($"<polyline fill=\"none\" stroke=\"{Palette[n % Palette.Length]}\" stroke-width=\"2\" points=\"{string.Join(' ', points.Select(p => $"{F(X(p.X))},{F(Y(p.Y))}"))}\"/>");
            }
            html.Append(svg.Append("</svg><br>"));
        }
        return html.Append("</body></html>\n").ToString();
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

    private static StringBuilder Start(int height, string title) =>
        new StringBuilder().Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{height}\" viewBox=\"0 0 {Width} {height}\"><text x=\"10\" y=\"16\" font-weight=\"bold\">{E(title)}</text>");

    private static string F(double value) => value.ToString("0.#", CultureInfo.InvariantCulture);

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
