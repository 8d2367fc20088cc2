// The report's charts are ScottPlot's, and ScottPlot draws no text at all, without an error, on a machine with no
// fonts: these tests fail there, saying what to install, and check that every chart of a report has its text.
using EpollServer.LoadTests.Reports;
using ScottPlot;

namespace EpollServer.Tests;

public class ChartTests
{
    [Fact]
    public void AChartsTitle_IsDrawnAsText_SoTheMachineHasAFontToDrawWith()
    {
        var plot = new Plot();
        plot.Title("throughput (per second)", size: 14);
        plot.Font.Set("DejaVu Sans");
        string svg = Charts.Svg(plot);
        Assert.True(svg.Contains("<text", StringComparison.Ordinal) && svg.Contains("throughput", StringComparison.Ordinal),
            "ScottPlot drew the title as nothing: no font is installed (apt-get install fonts-dejavu-core; scripts/test installs it)");
    }

    [Fact]
    public void EveryChartInAReport_HasItsTitleAndLabelsAsText()
    {
        var (report, _) = LoadEngineTests.SmokeReport();
        var colors = Charts.Colors(["epollserver"]);
        foreach (var (name, plot) in Charts.ForCase(report.Cases[0], colors))
        {
            string svg = Charts.Svg(plot);
            Assert.StartsWith("<svg", svg);
            Assert.Contains("<text", svg);
            Assert.Contains("epollserver", svg);   // the legend or the bar's label, drawn as text
        }
    }
}
