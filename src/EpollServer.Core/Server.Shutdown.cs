// Graceful stop: close the listeners, let every connection flush what it owes, and close what is left at the deadline.
using EpollServer.Net;
using EpollServer.Reactor;
using Microsoft.Extensions.Logging;

namespace EpollServer;

public sealed partial class Server
{
    private LoopTimer? _drainDeadline;

    // Any thread. Returns at once; Completion tells when the server has stopped.
    public void Stop()
    {
        // First, on the caller's thread: the shutdown path may need fds the process has run out of.
        _reserve.Dispose();
        if (_state == ServerState.Running)
            Loop.Post(BeginShutdown);
    }

    public Task StopAsync()
    {
        Stop();
        return Completion;
    }

    private void BeginShutdown()
    {
        if (_state != ServerState.Running)
            return;
        _state = ServerState.Draining;
        // The deadline counts from the moment the stop begins, before any connection has been asked to drain.
        _drainDeadline = Loop.Schedule(Options.ShutdownTimeout, OnDrainDeadline);
        foreach (Listener listener in _listeners)
            listener.Close(Loop);
        _udp?.Close(Loop);
        Logger.LogInformation("stopping: listener closed, draining {Count} connections (deadline {Seconds} s)",
            OpenConnections, Options.ShutdownTimeout.TotalSeconds);
        // The accepted connections drain; those a handler opened end with what they serve (a proxy's upstream
        // closes with its client).
        foreach (Connection connection in Context.Connections.Snapshot())
        {
            if (connection.IsAccepted)
                connection.BeginDrain();
        }
        if (OpenConnections == 0)
            FinishShutdown();
    }

    private void OnDrainDeadline()
    {
        Connection[] left = Context.Connections.Snapshot();
        long unsent = left.Sum(c => (long)c.PendingOutput);
        long unserved = left.Sum(c => (long)c.PendingInput);
        Logger.LogWarning("drain deadline reached: closing {Count} connections with {Bytes} bytes unsent and {Unserved} bytes read but not served",
            left.Length, unsent, unserved);
        foreach (Connection connection in left)
            connection.CloseNow(CloseReason.DrainDeadline);
        FinishShutdown();
    }

    private void FinishShutdown()
    {
        _drainDeadline?.Cancel();
        Loop.Stop();
    }
}
