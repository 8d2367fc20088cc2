// The phases of one run on the monotonic clock (Stopwatch ticks): warm-up (ramp-up included) from Start, the
// measured window [MeasureStart, MeasureEnd), then a drain in which no new request is issued. The connect phase
// comes before Start; Begin is called once, by the orchestrating thread, before it posts the start to the loops
// (the post is the memory barrier that publishes it).
using System.Diagnostics;

namespace EpollServer.LoadTests.Engine;

internal sealed class RunClock
{
    public static readonly long Frequency = Stopwatch.Frequency;

    private readonly TimeSpan _warmup;
    private readonly TimeSpan _duration;

    public RunClock(TimeSpan warmup, TimeSpan duration)
    {
        _warmup = warmup;
        _duration = duration;
    }

    public long Start { get; private set; } = long.MaxValue;

    public long MeasureStart { get; private set; } = long.MaxValue;

    public long MeasureEnd { get; private set; } = long.MaxValue;

    public bool Begun => Start != long.MaxValue;

    public double WindowSeconds => _duration.TotalSeconds;

    public int TotalSeconds => (int)Math.Ceiling(_warmup.TotalSeconds + _duration.TotalSeconds);

    public void Begin(long start)
    {
        Start = start;
        MeasureStart = start + Ticks(_warmup);
        MeasureEnd = MeasureStart + Ticks(_duration);
    }

    // Requests are issued until the window closes; what is in flight then is still awaited (and measured).
    public bool Issuing(long now) => now < MeasureEnd;

    public bool InWindow(long ticks) => ticks >= MeasureStart && ticks < MeasureEnd;

    public int SecondOf(long ticks) => ticks <= Start ? 0 : (int)((ticks - Start) / Frequency);

    public static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Frequency);

    public static long ToNanoseconds(long ticks) =>
        Frequency == 1_000_000_000 ? ticks : (long)(ticks * (1_000_000_000.0 / Frequency));
}
