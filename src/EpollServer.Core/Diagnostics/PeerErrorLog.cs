// Log lines for peers' protocol errors (an over-long line, invalid UTF-8, a refused command). A hostile peer can make
// thousands a second, and a log is no place for that: at most `burst` lines per window, then one line saying how
// many were left out. Every error is still counted (peer-errors on the stats line). Loop thread only: no lock.
using EpollServer.Net;
using Microsoft.Extensions.Logging;

namespace EpollServer.Diagnostics;

internal sealed class PeerErrorLog
{
    private readonly ILogger _logger;
    private readonly int _burst;
    private readonly long _window;
    private readonly long _ticksPerSecond;
    private long _windowStart = long.MinValue;
    private int _logged;
    private long _suppressed;

    // clock: the one whose timestamps Report is given (the loop's).
    public PeerErrorLog(ILogger logger, int burst, TimeSpan window, TimeProvider clock)
    {
        _logger = logger;
        _burst = burst;
        _ticksPerSecond = clock.TimestampFrequency;
        _window = (long)(window.TotalSeconds * _ticksPerSecond);
    }

    // now: a timestamp of the clock given at construction.
    public void Report(long now, PeerAddress peer, string reason)
    {
        if (_windowStart == long.MinValue || now - _windowStart >= _window)
        {
            if (_suppressed > 0)
                _logger.LogInformation("{Count} more peer errors were not logged in the last {Seconds:0} s", _suppressed, (now - _windowStart) / (double)_ticksPerSecond);
            _windowStart = now;
            _logged = 0;
            _suppressed = 0;
        }
        if (_logged < _burst)
        {
            _logged++;
            _logger.LogInformation("peer {Peer}: {Reason}", peer, reason);
        }
        else
        {
            _suppressed++;
        }
    }
}
