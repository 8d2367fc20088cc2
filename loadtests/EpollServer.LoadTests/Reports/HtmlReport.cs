// The report as one HTML page that opens in a browser with no network: tables plus each case's three charts as
// inline SVG (throughput side by side, latency by percentile on log axes, replies per second over time; Charts.cs).
using System.Globalization;
using System.Net;
using System.Text;

namespace EpollServer.LoadTests.Reports;

internal static class HtmlReport
{
    public static string Render(BenchReport report)
    {
        var colors = Charts.Colors(report.Cases.SelectMany(c => c.Servers.Select(s => s.Server)));
        string Color(string server) => colors(server).ToHex();

        var html = new StringBuilder();
        html.Append($$"""
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{E(report.Title)}}</title>
            <style>
            body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
            table{border-collapse:collapse;margin:.5em 0 1em} td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
            td:first-child,th:first-child,td.notes{text-align:left} .charts{display:flex;flex-wrap:wrap;gap:1em}
            svg{border:1px solid #ddd} .fail{color:#b00}
            </style></head><body>
            <h1>{{E(report.Title)}}</h1>
            <p>{{E(report.Date.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture))}} UTC &middot; {{E(report.Machine.ToString())}} &middot; {{E(report.Pinning)}}<br>
            <code>{{E(report.Command)}}</code></p>
            <p class="{{(report.Passed ? "" : "fail")}}">{{(report.Passed ? "Every EpollServer round passed its checks." : "FAILED: see the notes column.")}}
            Throughput: replies per second in the measured window; per CPU-second: per second of server CPU (all its threads). Latency: from each request's intended send time. Medians of the rounds, with their range (min-max). CPU: a share of the CPUs each process was given. {{E(Saturation.Rule)}}.</p>
            """);
        foreach (CaseReport item in report.Cases)
        {
            html.Append($"<h2>{E(item.Title)}</h2>\n<table><tr><th>server</th><th>per second</th><th>vs EpollServer</th>");
            foreach (double p in ReportWriter.Percentiles)
                html.Append($"<th>p{p.ToString(CultureInfo.InvariantCulture)} &micro;s</th>");
            html.Append("<th>max &micro;s</th><th>server CPU</th><th>per CPU-second</th><th>vs EpollServer</th><th>generator CPU</th><th>generator-bound</th><th>errors</th><th>notes</th></tr>\n");
            foreach (PeerSummary server in item.Servers)
            {
                int rounds = server.Rounds.Count;
                html.Append($"<tr><td style=\"color:{Color(server.Server)}\">&#9632; {E(server.Server)}</td><td>{ReportWriter.WithRange(server.Throughput, server.ThroughputRange, rounds, ReportWriter.Number)}</td><td>{ReportWriter.Ratio(server, item.Reference)}</td>");
                foreach (double p in ReportWriter.Percentiles)
                    html.Append($"<td>{(p == 99 ? ReportWriter.WithRange(server.LatencyMicros(p), server.LatencyRange(p), rounds, ReportWriter.Micros) : ReportWriter.Micros(server.LatencyMicros(p)))}</td>");
                string efficiency = server.Efficiency is double e ? ReportWriter.WithRange(e, server.EfficiencyRange, rounds, ReportWriter.Number) : "";
                html.Append($"<td>{ReportWriter.Micros(server.MaxMicros)}</td><td>{ReportWriter.CpuOf(server.ServerCpuShare, server.ServerCpuCount)}</td><td>{efficiency}</td><td>{ReportWriter.EfficiencyRatio(server, item.Reference)}</td>");
                html.Append($"<td>{ReportWriter.CpuOf(server.GeneratorCpuShare, server.GeneratorCpuCount)}</td><td class=\"fail\">{(server.GeneratorBound ? "yes" : "")}</td><td>{server.Errors}</td><td class=\"notes\">{E(server.Problems())}</td></tr>\n");
            }
            html.Append("</table>\n");
            if (item.Servers.Any(s => s.GeneratorBound))
                html.Append($"<p class=\"fail\">Generator-bound: {E(string.Join(", ", item.Servers.Where(s => s.GeneratorBound).Select(s => s.Server)))}: the throughput is the generator's ceiling.</p>\n");
            html.Append("<div class=\"charts\">");
            foreach (var (_, chart) in Charts.ForCase(item, colors))
                html.Append(Charts.Svg(chart));
            html.Append("</div>\n");
        }
        AppendBuilds(html, report);
        html.Append("</body></html>\n");
        return html.ToString();
    }

    private static void AppendBuilds(StringBuilder html, BenchReport report)
    {
        html.Append("<h2>How each program was built and run</h2>\n<table><tr><th>program</th><th>configuration</th><th>runtime</th><th>GC</th><th>DOTNET_ settings</th><th>CPUs</th><th>command</th></tr>\n");
        foreach (Bench.ProcessBuild build in new[] { report.Generator }.Concat(report.ExternalGenerators).Concat(report.ServerBuilds))
        {
            string settings = string.Join(" ", build.DotnetSettings.Select(kv => $"{kv.Key}={kv.Value}"));
            html.Append($"<tr><td>{E(build.Name)}</td><td class=\"notes\">{E(build.Configuration)}</td><td class=\"notes\">{E(build.Runtime)}</td><td class=\"notes\">{E(build.Gc)}</td>" +
                $"<td class=\"notes\">{E(settings)}</td><td>{E(build.Pinning)}</td><td class=\"notes\"><code>{E(build.Command)}</code></td></tr>\n");
        }
        html.Append("</table>\n");
    }

    // A page of time series, one chart each (the soak's RSS and fds), with a summary in <pre> above them.
    public static string RenderSeries(string title, string summary, IEnumerable<ScottPlot.Plot> charts)
    {
        var html = new StringBuilder($"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{E(title)}</title>" +
            "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222} svg{border:1px solid #ddd;margin:.5em 0}</style></head><body>");
        html.Append($"<h1>{E(title)}</h1><pre>{E(summary)}</pre>");
        foreach (ScottPlot.Plot chart in charts)
            html.Append(Charts.Svg(chart)).Append("<br>");
        return html.Append("</body></html>\n").ToString();
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
