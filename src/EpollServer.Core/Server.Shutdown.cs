// Graceful stop, across every reactor: first every listener closes (so that no reactor hands a connection to one that
// has stopped), then every reactor drains its connections under one shared deadline, and stops when it has none left.
using EpollServer.Net;
using Microsoft.Extensions.Logging;

namespace EpollServer;

public sealed partial class Server
{
    private long _drainDeadline;   // on Clock's timestamps: the same moment for every reactor
    private int _stillAccepting;   // reactors that have not yet closed their listeners since Stop

    // Any thread. Returns at once; Completion tells when the server has stopped.
    public void Stop()
    {
        // First, on the caller's thread: the shutdown path may need fds the process has run out of.
        _reserve.Dispose();
        if (_state != ServerState.Running)
            return;
        _state = ServerState.Draining;
        _drainDeadline = Clock.GetTimestamp() + (long)(Options.ShutdownTimeout.TotalSeconds * Clock.TimestampFrequency);
        _stillAccepting = _reactors.Length;
        foreach (ReactorLoop reactor in _reactors)
            reactor.Context.Loop.Post(() => StopAccepting(reactor));
    }

    public Task StopAsync()
    {
        Stop();
        return Completion;
    }

    // On each reactor. The last to close its listeners starts every reactor's drain: the drain is posted after any
    // connection handed over before, so those are adopted first and drain with the rest.
    private void StopAccepting(ReactorLoop reactor)
    {
        CloseListeners(reactor);
        if (Interlocked.Decrement(ref _stillAccepting) != 0)
            return;
        Logger.LogInformation("stopping: listener closed, draining {Count} connections (deadline {Seconds} s)",
            OpenConnections, Options.ShutdownTimeout.TotalSeconds);
        foreach (ReactorLoop each in _reactors)
            each.Context.Loop.Post(() => BeginDrain(each));
    }

    private void BeginDrain(ReactorLoop reactor)
    {
        reactor.Draining = true;
        reactor.DrainDeadline = reactor.Context.Loop.ScheduleAt(_drainDeadline, () => OnDrainDeadline(reactor));
        // The accepted connections drain; those a handler opened end with what they serve (a proxy's upstream closes
        // with its client).
        foreach (Connection connection in reactor.Context.Connections.Snapshot())
        {
            if (connection.IsAccepted)
                connection.BeginDrain();
        }
        FinishIfDrained(reactor);
    }

    private void OnDrainDeadline(ReactorLoop reactor)
    {
        Connection[] left = reactor.Context.Connections.Snapshot();
        long unsent = left.Sum(c => (long)c.PendingOutput);
        long unserved = left.Sum(c => (long)c.PendingInput);
        Logger.LogWarning("drain deadline reached: closing {Count} connections with {Bytes} bytes unsent and {Unserved} bytes read but not served{Where}",
            left.Length, unsent, unserved, _reactors.Length > 1 ? $" ({reactor})" : "");
        foreach (Connection connection in left)
            connection.CloseNow(CloseReason.DrainDeadline);
        reactor.Context.Loop.RunDeferred();
        FinishIfDrained(reactor);
    }

    private static void FinishIfDrained(ReactorLoop reactor)
    {
        if (!reactor.Draining || reactor.Context.Connections.Count > 0)
            return;
        reactor.DrainDeadline?.Cancel();
        reactor.Context.Loop.Stop();
    }

    // The context's report of a close, on its reactor, while the connection is still counted open: its slot is given
    // back first, so a peer that sees the count drop is never refused for it (the handler hears of the close later).
    private void OnConnectionReleasing(ReactorLoop reactor, Connection connection)
    {
        if (connection.IsAccepted)
            Forget(reactor, connection.Host);
    }
}
