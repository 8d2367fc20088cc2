// The load engine's histogram: exact where it claims to be, within 1/128 everywhere else, and merges losslessly.
using EpollServer.LoadTests.Engine;

namespace EpollServer.Tests;

public class LatencyHistogramTests
{
    [Fact]
    public void SmallValues_AreExact()
    {
        var histogram = new LatencyHistogram();
        for (int v = 1; v <= 200; v++)
            histogram.Record(v);
        Assert.Equal(100, histogram.ValueAtPercentile(50));
        Assert.Equal(198, histogram.ValueAtPercentile(99));
        Assert.Equal(200, histogram.ValueAtPercentile(100));
        Assert.Equal(1, histogram.Min);
        Assert.Equal(200, histogram.Max);
    }

    [Fact]
    public void Percentiles_AreWithinTheStatedRelativeError_OfTheExactOnes()
    {
        var random = new Random(4242);
        var histogram = new LatencyHistogram();
        var values = new long[200_000];
        for (int i = 0; i < values.Length; i++)
        {
            // Log-uniform from 100 ns to 10 s: every octave the histogram has is exercised.
            values[i] = (long)Math.Pow(10, 2 + random.NextDouble() * 8);
            histogram.Record(values[i]);
        }
        Array.Sort(values);
        foreach (double p in new[] { 1, 50, 75, 95, 99, 99.9, 99.99 })
        {
            long exact = values[(int)Math.Ceiling(p / 100 * values.Length) - 1];
            long reported = histogram.ValueAtPercentile(p);
            Assert.True(reported >= exact, $"p{p}: reported {reported} below the exact {exact} (must never flatter)");
            Assert.True(reported <= exact + exact / 128 + 1, $"p{p}: reported {reported}, exact {exact}: more than 1/128 off");
        }
        Assert.Equal(values[^1], histogram.ValueAtPercentile(100));
    }

    [Fact]
    public void EveryBucket_HoldsItsOwnUpperBound_AndTheNextValueStartsTheNextBucket()
    {
        for (long v = 0; v < 1 << 20; v++)
        {
            int index = LatencyHistogram.IndexOf(v);
            long highest = LatencyHistogram.HighestValueIn(index);
            Assert.True(v <= highest, $"{v} is above its bucket's highest value {highest}");
            if (v == highest)
                Assert.Equal(index + 1, LatencyHistogram.IndexOf(v + 1));
        }
    }

    [Fact]
    public void Add_MergesCountsAndExtremes()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        for (int i = 0; i < 1000; i++)
            a.Record(1000);
        for (int i = 0; i < 1000; i++)
            b.Record(3000);
        a.Add(b);
        Assert.Equal(2000, a.Count);
        Assert.Equal(1000, a.Min);
        Assert.Equal(3000, a.Max);
        Assert.InRange(a.ValueAtPercentile(50), 1000, 1000 + 1000 / 128);
        Assert.InRange(a.ValueAtPercentile(51), 3000, 3000 + 3000 / 128);
        Assert.Equal(2000.0, a.Mean);
    }
}
