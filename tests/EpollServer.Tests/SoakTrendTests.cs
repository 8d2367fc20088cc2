// The soak's leak judge on synthetic series (SoakTrend): a flat noisy RSS or fd count passes a 10-minute run, a leak
// of 100 KiB a minute or one fd a minute fails it, a short run's slope is reported and not judged, and a series too
// noisy to see such a leak fails as inconclusive; one step of the heap is not a leak, steps that keep coming are.
// The series are built here from a fixed seed, not measured.
using EpollServer.LoadTests.Cli;

namespace EpollServer.Tests;

public class SoakTrendTests
{
    // The 10-minute soak's measured run: 600 s after a 60 s warm-up, a sample a second.
    private const double Start = 60, End = 660;

    private static List<(double Second, double Value)> Series(double start, double end, Func<double, double> value) =>
        [.. Enumerable.Range(0, (int)(end - start) + 1).Select(i => (start + i, value(start + i)))];

    [Fact]
    public void TheSlope_OfAStraightLine_IsItsSlopePerMinute_WithNoSpread()
    {
        Slope slope = SoakTrend.TheilSen(Series(0, 100, t => 5 + 2 * t));
        Assert.Equal(120, slope.PerMinute, 6);
        Assert.Equal(120, slope.LowPerMinute, 6);
        Assert.Equal(120, slope.HighPerMinute, 6);
        Assert.Equal(100, slope.WindowSeconds);
        Assert.Equal(101, slope.Samples);
    }

    [Fact]
    public void OneHeapStepInAFlatRss_IsNotALeak()
    {
        // As the 10-minute soak of 2026-12-04 measured it: flat, one 3.9 MiB step (a GC region committed) at 375 s of
        // the 260-660 s window, flat again; least squares read +746 KiB/min from this.
        var random = new Random(5);
        TrendVerdict verdict = SoakTrend.Judge(
            Series(Start, End, t => 72.8 * 1048576 + (t >= 375 ? 3.9 * 1048576 : 0) + random.Next(-8_192, 8_192)), Start, End, TrendBound.Rss);
        Assert.True(verdict.Judged, verdict.Detail);
        Assert.True(verdict.Passed, verdict.Detail);
    }

    [Fact]
    public void ARssLeakInSteps_FailsATenMinuteRun()
    {
        // 100 KiB/min arriving as a 64 KiB step every 38.4 s (live objects promoted in batches): steps that keep coming.
        TrendVerdict verdict = SoakTrend.Judge(
            Series(Start, End, t => 60 * 1048576.0 + 65_536 * Math.Floor((t - Start) / 38.4)), Start, End, TrendBound.Rss);
        Assert.True(verdict.Judged, verdict.Detail);
        Assert.False(verdict.Passed, verdict.Detail);
    }

    [Fact]
    public void OnlyTheLastTwoThirdsOfTheRun_AreJudged()
    {
        // Flat after a climb in the first third: the climb is the heap settling, not a leak.
        var series = Series(Start, End, t => t < Start + 200 ? 40e6 + (t - Start) * 50_000 : 50e6);
        List<(double Second, double Value)> judged = SoakTrend.LastTwoThirds(series, Start, End);
        Assert.Equal(Start + 200, judged[0].Second);
        Assert.Equal(End, judged[^1].Second);
        Assert.True(SoakTrend.Judge(series, Start, End, TrendBound.Rss).Passed);
    }

    [Fact]
    public void AFlatNoisyRss_PassesATenMinuteRun()
    {
        var random = new Random(24);
        TrendVerdict verdict = SoakTrend.Judge(Series(Start, End, _ => 60 * 1048576.0 + random.Next(-262_144, 262_144)), Start, End, TrendBound.Rss);
        Assert.True(verdict.Judged, verdict.Detail);
        Assert.True(verdict.Passed, verdict.Detail);
    }

    [Fact]
    public void ARssLeakOf100KiBAMinute_FailsATenMinuteRun()
    {
        var random = new Random(24);
        TrendVerdict verdict = SoakTrend.Judge(
            Series(Start, End, t => 60 * 1048576.0 + 100 * 1024 * (t - Start) / 60 + random.Next(-262_144, 262_144)), Start, End, TrendBound.Rss);
        Assert.True(verdict.Judged, verdict.Detail);
        Assert.False(verdict.Passed, verdict.Detail);
        Assert.Contains("above the bound", verdict.Detail);
        Assert.InRange(verdict.Slope.PerMinute / 1024, 90, 110);
    }

    [Fact]
    public void FlatFdsThatMoveWithTheChurn_PassATenMinuteRun()
    {
        var random = new Random(7);
        TrendVerdict verdict = SoakTrend.Judge(Series(Start, End, _ => 318 + random.Next(-2, 3)), Start, End, TrendBound.Fds);
        Assert.True(verdict.Judged, verdict.Detail);
        Assert.True(verdict.Passed, verdict.Detail);
    }

    [Fact]
    public void OneLeakedFdAMinute_FailsATenMinuteRun()
    {
        var random = new Random(7);
        TrendVerdict verdict = SoakTrend.Judge(
            Series(Start, End, t => 318 + Math.Floor((t - Start) / 60) + random.Next(-2, 3)), Start, End, TrendBound.Fds);
        Assert.True(verdict.Judged, verdict.Detail);
        Assert.False(verdict.Passed, verdict.Detail);
    }

    [Fact]
    public void TheThirtySecondCiSoak_ReportsItsSlope_ButDoesNotJudgeIt()
    {
        // CI's soak: 30 s after 10 s of warm-up, a 20 s window; a heap still settling climbs fast there.
        TrendVerdict verdict = SoakTrend.Judge(Series(10, 40, t => 40e6 + t * 100_000), 10, 40, TrendBound.Rss);
        Assert.True(verdict.Passed, verdict.Detail);
        Assert.False(verdict.Judged);
        Assert.Contains("not judged", verdict.Detail);
        Assert.Contains("slope +", verdict.Detail);
    }

    [Fact]
    public void ASeriesTooNoisyToSeeTheLeak_FailsAsInconclusive()
    {
        // ±32 MiB of noise: a 100 KiB/min leak could hide under the bound, so the run proves nothing either way.
        var random = new Random(3);
        TrendVerdict verdict = SoakTrend.Judge(Series(Start, End, _ => 60e6 + random.Next(-33_554_432, 33_554_432)), Start, End, TrendBound.Rss);
        Assert.False(verdict.Passed, verdict.Detail);
        Assert.Contains("inconclusive", verdict.Detail);
    }

    [Fact]
    public void TheBounds_AreBrokenByTheLeaksTheyExistToCatch()
    {
        Assert.True(TrendBound.Rss.BoundPerMinute < 100 * 1024);
        Assert.Equal(100 * 1024, TrendBound.Rss.LeakPerMinute);
        Assert.True(TrendBound.Fds.BoundPerMinute < 1);
        Assert.Equal(1, TrendBound.Fds.LeakPerMinute);
    }
}
