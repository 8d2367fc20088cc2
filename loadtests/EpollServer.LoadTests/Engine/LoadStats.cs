// What one loop thread measured. Only that thread writes; the progress display reads the totals racily (a torn
// read of a long cannot happen on 64-bit, and a value one tick old is fine for a live rate).
using HdrHistogram;

namespace EpollServer.LoadTests.Engine;

internal enum LoadError
{
    ConnectFailed,      // connect(2) or its completion failed, or the server refused with a line
    Reset,              // recv or send failed (ECONNRESET, EPIPE, ...)
    ClosedByServer,     // EOF while replies were still owed
    Mismatch,           // a reply differed from what the protocol promises
    Unanswered,         // still owed when the drain deadline passed
    Overflow,           // the open model queued more than a connection may hold: the server fell far behind
}

internal sealed class LoadStats
{
    public static readonly int ErrorKinds = Enum.GetValues<LoadError>().Length;

    private readonly RunClock _clock;

    public LoadStats(RunClock clock, int seconds)
    {
        _clock = clock;
        CompletedPerSecond = new long[seconds];
        ErrorsPerSecond = new long[seconds];
    }

    // Latency in nanoseconds to 3 significant digits (HdrHistogram: no allocation per record, one per loop thread,
    // merged at the end); a value above an hour, which no bounded run can measure, is recorded as an hour.
    public const long LatencyCeilingNs = 3_600_000_000_000;

    public LongHistogram Latency { get; } = new(LatencyCeilingNs, 3);

    public long[] Errors { get; } = new long[ErrorKinds];

    public long[] CompletedPerSecond { get; }

    public long[] ErrorsPerSecond { get; }

    public long Completed;            // every reply, warm-up included (progress)
    public long CompletedInWindow;    // replies that arrived inside the measured window (throughput)
    public long Outstanding;          // requests issued and not yet answered
    public long BytesSent;
    public long BytesReceived;
    public long ConnectionsOpened;
    public long ConnectionsClosed;
    public long FirstError = -1;      // ticks of the first error, for the report

    public long ErrorTotal
    {
        get
        {
            long total = 0;
            foreach (long count in Errors)
                total += count;
            return total;
        }
    }

    // One reply: `intended` is when the request was meant to leave (the open model's schedule, or its real send
    // time in the closed model), so a stall in the server is charged to every request it delayed.
    public void RecordReply(long intended, long now)
    {
        Completed++;
        CompletedPerSecond[Math.Min(_clock.SecondOf(now), CompletedPerSecond.Length - 1)]++;
        if (_clock.InWindow(now))
            CompletedInWindow++;
        if (_clock.InWindow(intended))
            Latency.RecordValue(Math.Clamp(RunClock.ToNanoseconds(now - intended), 0, LatencyCeilingNs));
    }

    public void RecordError(LoadError kind, long now, long count = 1)
    {
        Errors[(int)kind] += count;
        ErrorsPerSecond[Math.Min(_clock.SecondOf(now), ErrorsPerSecond.Length - 1)] += count;
        if (FirstError < 0)
            FirstError = now;
    }

    public void Add(LoadStats other)
    {
        Latency.Add(other.Latency);
        for (int i = 0; i < Errors.Length; i++)
            Errors[i] += other.Errors[i];
        for (int i = 0; i < CompletedPerSecond.Length; i++)
        {
            CompletedPerSecond[i] += other.CompletedPerSecond[i];
            ErrorsPerSecond[i] += other.ErrorsPerSecond[i];
        }
        Completed += other.Completed;
        CompletedInWindow += other.CompletedInWindow;
        Outstanding += other.Outstanding;
        BytesSent += other.BytesSent;
        BytesReceived += other.BytesReceived;
        ConnectionsOpened += other.ConnectionsOpened;
        ConnectionsClosed += other.ConnectionsClosed;
        if (other.FirstError >= 0 && (FirstError < 0 || other.FirstError < FirstError))
            FirstError = other.FirstError;
    }
}
