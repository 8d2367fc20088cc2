// A log-linear latency histogram (HdrHistogram's idea; the package is not obtainable here): values in nanoseconds,
// exact below 256 ns, above that 128 linear sub-buckets per power of two, so any recorded value is reported within
// 1/128 (0.8%) of itself. Fixed size (about 36 KiB), no allocation per record, one per loop thread, merged at the end.
namespace EpollServer.LoadTests.Engine;

internal sealed class LatencyHistogram
{
    private const int SubBucketBits = 7;                      // 128 sub-buckets per octave
    private const int SubBuckets = 1 << SubBucketBits;
    private const int LinearLimit = SubBuckets * 2;           // values below this have a bucket each (exact)
    private const int MaxExponent = 44;                       // 2^44 ns is about 4.9 hours: more than any run
    private const int BucketCount = LinearLimit + (MaxExponent - SubBucketBits) * SubBuckets;

    private readonly long[] _counts = new long[BucketCount];

    public long Count { get; private set; }

    public long Max { get; private set; }

    public long Min { get; private set; } = long.MaxValue;

    public double Sum { get; private set; }

    public double Mean => Count == 0 ? 0 : Sum / Count;

    public void Record(long nanoseconds)
    {
        if (nanoseconds < 0)
            nanoseconds = 0;
        _counts[IndexOf(nanoseconds)]++;
        Count++;
        Sum += nanoseconds;
        if (nanoseconds > Max)
            Max = nanoseconds;
        if (nanoseconds < Min)
            Min = nanoseconds;
    }

    public void Add(LatencyHistogram other)
    {
        for (int i = 0; i < _counts.Length; i++)
            _counts[i] += other._counts[i];
        Count += other.Count;
        Sum += other.Sum;
        Max = Math.Max(Max, other.Max);
        Min = Math.Min(Min, other.Min);
    }

    public void Clear()
    {
        Array.Clear(_counts);
        Count = 0;
        Sum = 0;
        Max = 0;
        Min = long.MaxValue;
    }

    // The value at or below which `percentile` percent of the recorded values lie, reported as the highest value
    // of its bucket (never flattering) and never above the true maximum.
    public long ValueAtPercentile(double percentile)
    {
        if (Count == 0)
            return 0;
        long rank = Math.Max(1, (long)Math.Ceiling(percentile / 100.0 * Count));
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
                return Math.Min(HighestValueIn(i), Max);
        }
        return Max;
    }

    internal static int IndexOf(long value)
    {
        if (value < LinearLimit)
            return (int)value;
        int exponent = 63 - (int)long.LeadingZeroCount(value);           // >= SubBucketBits + 1
        int shift = exponent - SubBucketBits;
        int subBucket = (int)(value >> shift) - SubBuckets;             // the 7 bits after the leading one
        int index = LinearLimit + (shift - 1) * SubBuckets + subBucket;
        return Math.Min(index, BucketCount - 1);
    }

    internal static long HighestValueIn(int index)
    {
        if (index < LinearLimit)
            return index;
        int shift = (index - LinearLimit) / SubBuckets + 1;
        long subBucket = (index - LinearLimit) % SubBuckets + SubBuckets;
        return ((subBucket + 1) << shift) - 1;
    }
}
