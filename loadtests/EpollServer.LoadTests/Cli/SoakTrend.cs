// The soak's judgement of a leak: the slope of a series (RSS, fds) over the last two thirds of the run, against a
// bound that the smallest leak the soak must catch breaks (100 KiB of RSS per minute, one fd per minute).
//
// Which slope: Theil-Sen's, the median of the slopes between every pair of samples, not least squares'. RSS under
// the GC moves in steps (a 4 MiB region committed once, then flat): least squares reads one such step in the middle
// of the window as a climb (a 10-minute soak measured +746 KiB/min on a series that rose 3.9 MiB once at 375 s and
// was flat for the 284 s after it), while the median of pairwise slopes stays at the flat parts' zero until steps
// keep coming, which is what a leak does. Sen's 95 % interval around it (ranks of the pairwise slopes) says how well
// the series pins the slope down.
//
// Why a minimum window: a slope over a short window is mostly noise. RSS climbs while the runtime first fills its
// gen0 budget (16 MiB here) and moves in page-sized steps; fds move by the churn connections in flight. Over the 20 s
// the 30-second CI soak judges, one 4 MiB step reads as 12 MiB a minute, and one churn connection as 3 fds a minute,
// so any bound a 100 KiB/min leak breaks would fail a healthy server there. The bound is therefore judged only on a
// window of at least MinimumWindow (a run of 6 minutes after warm-up: the 10-minute soak judges 400 s); a shorter run
// reports its slopes, says they were not judged, and still fails on load errors and fds not back to baseline.
// A judged window must also be quiet enough to see the leak: when the interval's half-width is more than the gap
// between the bound and the leak, a 100 KiB/min leak could hide under the bound, and the verdict fails as
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

// The slope per minute and Sen's 95 % interval around it (Low, High), over WindowSeconds from Samples samples.
internal readonly record struct Slope(double PerMinute, double LowPerMinute, double HighPerMinute, double WindowSeconds, int Samples)
{
    public double HalfIntervalPerMinute => (HighPerMinute - LowPerMinute) / 2;
}

internal sealed record TrendVerdict(bool Passed, bool Judged, Slope Slope, string Detail);

internal static class SoakTrend
{
    public static readonly TimeSpan MinimumWindow = TimeSpan.FromSeconds(240);

    // Theil-Sen: the median of the n(n-1)/2 pairwise slopes; Sen's interval takes the slopes C/2 ranks either side,
    // with C = 1.96 sqrt(n(n-1)(2n+5)/18) (Kendall's S statistic's standard deviation, ties ignored: wider, so safer).
    public static Slope TheilSen(IReadOnlyList<(double Second, double Value)> series)
    {
        int n = series.Count;
        if (n < 3 || series[^1].Second <= series[0].Second)
            return new Slope(0, double.NegativeInfinity, double.PositiveInfinity, 0, n);
        var slopes = new List<double>(n * (n - 1) / 2);
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                double dt = series[j].Second - series[i].Second;
                if (dt > 0)
                    slopes.Add((series[j].Value - series[i].Value) / dt);
            }
        }
        slopes.Sort();
        int pairs = slopes.Count;
        double c = 1.96 * Math.Sqrt(n * (n - 1.0) * (2.0 * n + 5) / 18);
        int low = Math.Clamp((int)Math.Floor((pairs - c) / 2), 0, pairs - 1);
        int high = Math.Clamp((int)Math.Ceiling((pairs + c) / 2), 0, pairs - 1);
        double median = pairs % 2 == 1 ? slopes[pairs / 2] : (slopes[pairs / 2 - 1] + slopes[pairs / 2]) / 2;
        return new Slope(median * 60, slopes[low] * 60, slopes[high] * 60, series[^1].Second - series[0].Second, n);
    }

    // The samples from a third of the way through the measured run [start, end] to its end.
    public static List<(double Second, double Value)> LastTwoThirds(IEnumerable<(double Second, double Value)> samples, double start, double end) =>
        [.. samples.Where(s => s.Second >= start + (end - start) / 3 && s.Second <= end).OrderBy(s => s.Second)];

    public static TrendVerdict Judge(IEnumerable<(double Second, double Value)> samples, double start, double end, TrendBound bound)
    {
        List<(double Second, double Value)> judged = LastTwoThirds(samples, start, end);
        Slope slope = TheilSen(judged);
        string measured = $"slope {bound.Format(slope.PerMinute)} (95 % interval {bound.Format(slope.LowPerMinute)} to {bound.Format(slope.HighPerMinute)}) " +
            $"over the last two thirds ({slope.WindowSeconds:0} s, {slope.Samples} samples); bound {bound.Format(bound.BoundPerMinute)}";
        if (slope.Samples < 3)
            return new TrendVerdict(false, false, slope, $"only {slope.Samples} samples in the last two thirds");
        if (slope.WindowSeconds < MinimumWindow.TotalSeconds)
        {
            return new TrendVerdict(true, false, slope, $"{measured}: not judged, the window is under {MinimumWindow.TotalSeconds:0} s " +
                "(too short to tell a leak from the heap settling; run 6 minutes or more for a verdict)");
        }
        // Noise first: on a series this noisy the slope itself, above the bound or below, says nothing.
        if (slope.HalfIntervalPerMinute > bound.LeakPerMinute - bound.BoundPerMinute)
        {
            return new TrendVerdict(false, true, slope, $"{measured}: inconclusive, too noisy to rule out a leak of " +
                $"{bound.Format(bound.LeakPerMinute).TrimStart('+')}");
        }
        if (slope.PerMinute > bound.BoundPerMinute)
            return new TrendVerdict(false, true, slope, $"{measured}: above the bound");
        return new TrendVerdict(true, true, slope, $"{measured}: within it");
    }
}
