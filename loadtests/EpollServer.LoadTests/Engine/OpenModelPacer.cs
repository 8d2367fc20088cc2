// The open model: requests leave on a fixed schedule, whatever the server does. Request k's intended time comes
// from the schedule (a linear ramp from 0 to the full rate over the ramp-up, then constant), and latency is measured
// from it, so a server stall is charged to every request that should have left during it (no coordinated
// omission). Runs after every batch on a loop that never sleeps (BusyPoll infinite), so sends leave within microseconds.
namespace EpollServer.LoadTests.Engine;

internal sealed class OpenModelPacer
{
    private readonly ClientLoop _loop;
    private readonly IReadOnlyList<LoadClient> _clients;
    private readonly Func<LoadClient, long, bool> _issue;
    private readonly double _ratePerTick;      // this loop's share of the rate
    private readonly double _rampTicks;
    private long _issued;
    private int _next;

    public OpenModelPacer(ClientLoop loop, double requestsPerSecond, TimeSpan rampUp, IReadOnlyList<LoadClient> clients,
        Func<LoadClient, long, bool> issue)
    {
        _loop = loop;
        _clients = clients;
        _issue = issue;
        _ratePerTick = requestsPerSecond / RunClock.Frequency;
        _rampTicks = RunClock.Ticks(rampUp);
    }

    public long Unsent { get; private set; }

    public void Run()
    {
        RunClock clock = _loop.Clock;
        long now = _loop.Loop.Now;
        if (!clock.Begun || now < clock.Start)
            return;
        long until = Math.Min(now, clock.MeasureEnd);
        long due = DueBy(until - clock.Start);
        while (_issued < due)
        {
            long intended = clock.Start + IntendedOffset(_issued);
            LoadClient? client = NextOpenClient();
            if (client is null || !_issue(client, intended))
                Unsent++;
            _issued++;
        }
    }

    // Requests due `elapsed` ticks into the run: the area under the rate curve.
    private long DueBy(long elapsed)
    {
        if (elapsed <= 0)
            return 0;
        if (elapsed < _rampTicks)
            return (long)(_ratePerTick * elapsed * elapsed / (2 * _rampTicks));
        return (long)(_ratePerTick * (elapsed - _rampTicks / 2));
    }

    // The inverse of DueBy: when request k was meant to leave.
    private long IntendedOffset(long k)
    {
        double rampRequests = _ratePerTick * _rampTicks / 2;
        if (k < rampRequests)
            return (long)Math.Sqrt(2.0 * k * _rampTicks / _ratePerTick);
        return (long)(k / _ratePerTick + _rampTicks / 2);
    }

    private LoadClient? NextOpenClient()
    {
        IReadOnlyList<LoadClient> clients = _clients;
        for (int tried = 0; tried < clients.Count; tried++)
        {
            LoadClient client = clients[_next];
            _next = (_next + 1) % clients.Count;
            if (client.IsOpen)
                return client;
        }
        return null;
    }
}
