// The soak's judgement of a leak: the least-squares slope of a series (RSS, fds) over the last two thirds of the run,
// against a bound that the smallest leak the soak must catch breaks (100 KiB of RSS per minute, one fd per minute).
//
// Why a minimum window: a slope over a short window is mostly noise. RSS climbs while the runtime first fills its
// gen0 budget (16 MiB here) and moves in page-sized steps; fds move by the churn connections in flight. Over the 20 s
// the 30-second CI soak judges, one 4 MiB step reads as 12 MiB a minute, and one churn connection as 3 fds a minute,
// so any bound a 100 KiB/min leak breaks would fail a healthy server there. The bound is therefore judged only on a
// window of at least MinimumWindow (a run of 6 minutes after warm-up: the 10-minute soak judges 400 s); a shorter run
// reports its slopes, says they were not judged, and still fails on load errors and fds not back to baseline.
// A judged window must also be quiet enough to see the leak: when twice the slope's standard error is more than the
// gap between the bound and the leak, a 100 KiB/min leak could hide under the bound, and the verdict fails as
// inconclusive instead of passing.
namespace EpollServer.LoadTests.Cli;

// A bound on a series' slope (units per minute) and the leak it exists to catch.
internal sealed record TrendBound(string Name, string Unit, double UnitScale, double BoundPerMinute, double LeakPerMinute)
{
    // In bytes: a 100 KiB/min leak breaks a 50 KiB/min bound with room for noise on either side.
    public static readonly TrendBound Rss = new("RSS", "KiB", 1024, 50 * 1024, 100 * 1024);

    // In fds: one leaked fd a minute breaks half an fd a minute.
    public static readonly TrendBound Fds = new("fds", "fds", 1, 0.5, 1);

    public string Format(double perMinute) => $"{perMinute / UnitScale:+0.00;-0.00;0.00} {Unit}/min";
}

internal readonly record struct Slope(double PerMinute, double StandardErrorPerMinute, double WindowSeconds, int Samples);

internal sealed record TrendVerdict(bool Passed, bool Judged, Slope Slope, string Detail);

internal static class SoakTrend
{
    public static readonly TimeSpan MinimumWindow = TimeSpan.FromSeconds(240);

    // The least-squares line through (second, value); its slope per minute and that slope's standard error.
    public static Slope LeastSquares(IReadOnlyList<(double Second, double Value)> series)
    {
        int n = series.Count;
        if (n < 3)
            return new Slope(0, double.PositiveInfinity, 0, n);
        double meanX = series.Average(p => p.Second), meanY = series.Average(p => p.Value);
        double sxx = series.Sum(p => (p.Second - meanX) * (p.Second - meanX));
        double sxy = series.Sum(p => (p.Second - meanX) * (p.Value - meanY));
        if (sxx <= 0)
            return new Slope(0, double.PositiveInfinity, 0, n);
        double slope = sxy / sxx;
        double residuals = series.Sum(p => Math.Pow(p.Value - (meanY + slope * (p.Second - meanX)), 2));
        double standardError = Math.Sqrt(residuals / (n - 2) / sxx);
        return new Slope(slope * 60, standardError * 60, series[^1].Second - series[0].Second, n);
    }

    // The samples from a third of the way through the measured run [start, end] to its end.
    public static List<(double Second, double Value)> LastTwoThirds(IEnumerable<(double Second, double Value)> samples, double start, double end) =>
        [.. samples.Where(s => s.Second >= start + (end - start) / 3 && s.Second <= end).OrderBy(s => s.Second)];

    public static TrendVerdict Judge(IEnumerable<(double Second, double Value)> samples, double start, double end, TrendBound bound)
    {
        List<(double Second, double Value)> judged = LastTwoThirds(samples, start, end);
        Slope slope = LeastSquares(judged);
        string measured = $"slope {bound.Format(slope.PerMinute)} (± {bound.Format(slope.StandardErrorPerMinute).TrimStart('+')} standard error) " +
            $"over the last two thirds ({slope.WindowSeconds:0} s, {slope.Samples} samples); bound {bound.Format(bound.BoundPerMinute)}";
        if (slope.Samples < 3)
            return new TrendVerdict(false, false, slope, $"only {slope.Samples} samples in the last two thirds");
        if (slope.WindowSeconds < MinimumWindow.TotalSeconds)
        {
            return new TrendVerdict(true, false, slope, $"{measured}: not judged, the window is under {MinimumWindow.TotalSeconds:0} s " +
                "(too short to tell a leak from the heap settling; run 6 minutes or more for a verdict)");
        }
        // Noise first: on a series this noisy the slope itself, above the bound or below, says nothing.
        if (2 * slope.StandardErrorPerMinute > bound.LeakPerMinute - bound.BoundPerMinute)
        {
            return new TrendVerdict(false, true, slope, $"{measured}: inconclusive, too noisy to rule out a leak of " +
                $"{bound.Format(bound.LeakPerMinute).TrimStart('+')}");
        }
        if (slope.PerMinute > bound.BoundPerMinute)
            return new TrendVerdict(false, true, slope, $"{measured}: above the bound");
        return new TrendVerdict(true, true, slope, $"{measured}: within it");
    }
}
