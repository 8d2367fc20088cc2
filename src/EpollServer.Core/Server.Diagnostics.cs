// What the server can tell about itself: its fds by role, and the log lines for connection-level trouble.
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Net;
using Microsoft.Extensions.Logging;

namespace EpollServer;

public sealed partial class Server
{
    // Any thread: the snapshot is taken on the loop, which owns the connection table.
    public Task<FdReport> GetFdReportAsync()
    {
        var result = new TaskCompletionSource<FdReport>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_state is ServerState.Running or ServerState.Draining)
            Loop.Post(() => result.TrySetResult(BuildFdReport()));
        else
            result.TrySetException(new InvalidOperationException("the server is not running"));
        return result.Task;
    }

    // Any thread: completes once the loop has run every timer due at the clock's current time, and the iteration that
    // ran them has finished. Tests that advance an injected clock wait on it instead of sleeping.
    internal Task AfterDueTimersAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Posted work runs before the timers of its iteration; a zero-delay timer runs with them, and what it posts
        // runs in the next iteration, after all of them.
        Loop.Post(() => Loop.Schedule(TimeSpan.Zero, () => Loop.Post(() => done.TrySetResult())));
        return done.Task;
    }

    internal FdReport BuildFdReport() => new(
        // The UDP echo socket counts with the listeners: it is the server's other listening endpoint.
        _listeners.Where(l => l.Fd >= 0).Select(l => l.Fd).Append(_udp?.Fd ?? -1).Where(fd => fd >= 0).ToArray(),
        Loop.PollerFd,
        Loop.WakerFd,
        _spare.Fd,
        Context.Connections.Snapshot().Where(c => c.Fd >= 0).Select(c => c.Fd).ToArray(),
        [.. _reserve.Fds],
        Loop.WakerWriteFd);

}
