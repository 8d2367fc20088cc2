// How the load engine records latency with HdrHistogram (LoadStats.Latency): three significant digits, never a
// percentile below the true one, lossless merging of the loop threads' histograms, and no allocation per record.
using EpollServer.LoadTests.Engine;
using HdrHistogram;

namespace EpollServer.Tests;

public class LatencyRecordingTests
{
    private static LoadStats NewStats()
    {
        var clock = new RunClock(TimeSpan.Zero, TimeSpan.FromHours(1));
        clock.Begin(0);
        return new LoadStats(clock, 1);
    }

    [Fact]
    public void Percentiles_AreWithinATenthOfAPercent_AndNeverBelowTheExactOnes()
    {
        var random = new Random(4242);
        LongHistogram histogram = NewStats().Latency;
        var values = new long[200_000];
        for (int i = 0; i < values.Length; i++)
        {
            // Log-uniform from 100 ns to 10 s: every magnitude a run can see.
            values[i] = (long)Math.Pow(10, 2 + random.NextDouble() * 8);
            histogram.RecordValue(values[i]);
        }
        Array.Sort(values);
        foreach (double p in new[] { 1, 50, 75, 95, 99, 99.9, 99.99, 100 })
        {
            long exact = values[Math.Max(0, (int)Math.Ceiling(p / 100 * values.Length) - 1)];
            long reported = histogram.GetValueAtPercentile(p);
            Assert.True(reported >= exact, $"p{p}: reported {reported} below the exact {exact} (must never flatter)");
            Assert.True(reported <= exact + exact / 1000 + 1, $"p{p}: reported {reported}, exact {exact}: more than 0.1% off");
        }
    }

    [Fact]
    public void Add_MergesTheLoopThreadsHistograms()
    {
        LoadStats a = NewStats(), b = NewStats();
        for (int i = 0; i < 1000; i++)
            a.Latency.RecordValue(1000);
        for (int i = 0; i < 1000; i++)
            b.Latency.RecordValue(3000);
        a.Add(b);
        Assert.Equal(2000, a.Latency.TotalCount);
        Assert.InRange(a.Latency.GetValueAtPercentile(50), 1000, 1001);
        Assert.InRange(a.Latency.GetValueAtPercentile(51), 3000, 3003);
        Assert.InRange(a.Latency.GetMaxValue(), 3000, 3003);
    }

    // A million replies with latencies up to 100,000 ticks; returns the bytes this thread allocated meanwhile.
    private static long RecordMany(LoadStats stats)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (long i = 0; i < 1_000_000; i++)
            stats.RecordReply(0, 1 + (i % 100_000));
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public void RecordReply_AllocatesNothing_AndClampsWhatNoRunCanMeasure()
    {
        LoadStats stats = NewStats();
        // A pass may allocate while the runtime JITs and tiers the code up (on a busy machine that can take a few
        // passes); a per-record allocation would show in every pass, so the steady state is the pass with the least.
        long[] passes = [.. Enumerable.Range(0, 5).Select(_ => RecordMany(stats))];
        Assert.True(passes.Min() == 0, $"bytes allocated by each pass of a million records: {string.Join(", ", passes)}");
        stats.RecordReply(0, RunClock.Ticks(TimeSpan.FromHours(2)));   // beyond the histogram's range: recorded as an hour
        Assert.InRange(stats.Latency.GetMaxValue(), LoadStats.LatencyCeilingNs * 0.99, LoadStats.LatencyCeilingNs * 1.01);
        Assert.Equal(5_000_001, stats.Latency.TotalCount);
    }
}
