// Whether the server is alive and whether it wants traffic, for an admin endpoint (GET /healthz, /readyz). A reactor
// blocked in a handler never turns its loop again, and nothing else would notice: so a heartbeat is posted to every
// reactor (from any thread, once a second by the daemon) and each notes on its own thread that it ran. A reactor is
// stuck when a heartbeat posted to it longer ago than the limit has not run. Timestamps are the server's clock.
using EpollServer.Reactor;

namespace EpollServer;

public sealed partial class Server
{
    private long[] _heartbeatPosted = [];
    private long[] _heartbeatRan = [];
    private Action[] _heartbeats = [];   // reactor i's: notes on its own thread that it ran

    // Running and accepting: false before Start, and from the moment a graceful stop begins.
    public bool IsServing => _state == ServerState.Running;

    // Asks every reactor to note that its loop turned; a reactor whose last heartbeat has not run yet is not asked
    // again (its queue does not grow while it is stuck).
    public void PostHeartbeats()
    {
        ReactorLoop[] reactors = _reactors;
        if (_heartbeatPosted.Length != reactors.Length)
            return;   // not started, or stopped
        for (int i = 0; i < reactors.Length; i++)
        {
            if (Volatile.Read(ref _heartbeatRan[i]) < Volatile.Read(ref _heartbeatPosted[i]))
                continue;
            Volatile.Write(ref _heartbeatPosted[i], Clock.GetTimestamp());
            reactors[i].Context.Loop.Post(_heartbeats[i]);
        }
    }

    // The index of the first reactor that has not run a heartbeat posted more than `limit` ago; -1 when none.
    public int StuckReactor(TimeSpan limit)
    {
        long now = Clock.GetTimestamp();
        for (int i = 0; i < _heartbeatPosted.Length; i++)
        {
            long posted = Volatile.Read(ref _heartbeatPosted[i]);
            if (Volatile.Read(ref _heartbeatRan[i]) < posted && Clock.GetElapsedTime(posted, now) > limit)
                return i;
        }
        return -1;
    }

    internal System.Diagnostics.Metrics.Meter? Meter => _metrics?.Meter;

    private void CreateHeartbeats(int reactors)
    {
        _heartbeatPosted = new long[reactors];
        _heartbeatRan = new long[reactors];
        _heartbeats = [.. Enumerable.Range(0, reactors).Select(i => (Action)(() => Volatile.Write(ref _heartbeatRan[i], Clock.GetTimestamp())))];
    }
}
