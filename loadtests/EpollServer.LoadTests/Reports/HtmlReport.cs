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
            foreach (var (_, chart) in Charts.ForCase(item, colors))
                html.Append(Charts.Svg(chart));
            html.Append("</div>\n");
        }
        html.Append("</body></html>\n");
        return html.ToString();
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
