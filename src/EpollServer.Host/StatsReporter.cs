// The stats line: the server's counters and its own fd accounting beside what /proc/PID/fd shows; the same figures
// go to the stats file that `epollserver stats` reads (StatsFile).
using System.Runtime.InteropServices;
using EpollServer.Diagnostics;
using Microsoft.Extensions.Logging;

namespace EpollServer.Host;

internal sealed class StatsReporter(Server server, ILogger logger)
{
    // PosixSignal has no member for SIGUSR1; raw numbers are accepted (10 on Linux, 30 on macOS and the BSDs).
    public static readonly PosixSignal SIGUSR1 = (PosixSignal)(OperatingSystem.IsLinux() ? 10 : 30);

    // Where the daemon logs: the admin endpoint logs an answer it could not make there too.
    public ILogger Logger => logger;

    // Off the loop thread: the loop only copies its fd list; reading /proc happens here.
    public async Task ReportAsync()
    {
        try
        {
            (ServerStats stats, FdReport own, StatsSnapshot snapshot) = await TakeAsync().ConfigureAwait(false);
            string proc = snapshot.Fds.ProcTotal >= 0 ? $" | /proc/{snapshot.Pid}/fd total={snapshot.Fds.ProcTotal} tcp-sockets={snapshot.Fds.ProcTcpSockets}" : "";
            // The file first: its first write loads System.Text.Json (an assembly is two more open fds), and a script
            // that counts fds once it sees the line must not catch that half-way.
            WriteFile(snapshot);
            logger.LogInformation("stats: {Stats}{Handler} | {Fds} fd-list=[{List}]{Proc}", stats, HandlerCounters(server), own,
                string.Join(',', own.AllFds.Take(64)), proc);
            if (server.ReactorCount > 1)
            {
                IReadOnlyList<ServerStats> each = server.PerReactor;
                for (int i = 0; i < each.Count; i++)
                    logger.LogInformation("stats: reactor {Index}: {Reactor}", i, PerReactorLine(each[i]));
            }
        }
        catch (InvalidOperationException)
        {
            // Stopping: the final line comes from the daemon.
        }
    }

    // The snapshot `epollserver stats` prints, taken now (the admin endpoint's GET /stats); off the loop threads.
    public async Task<StatsSnapshot> SnapshotAsync() => (await TakeAsync().ConfigureAwait(false)).Snapshot;

    // The counters, the server's own fd list (asked of its loops) and /proc's count, at one moment.
    private async Task<(ServerStats Stats, FdReport Own, StatsSnapshot Snapshot)> TakeAsync()
    {
        FdReport own = await server.GetFdReportAsync().ConfigureAwait(false);
        ServerStats stats = server.Stats;
        int pid = Environment.ProcessId;
        (int procTotal, int procTcp) = OperatingSystem.IsLinux() ? (ProcFd.Count(pid), ProcFd.CountTcpSockets(pid)) : (-1, -1);
        var snapshot = new StatsSnapshot(DateTime.UtcNow, pid, server.Handler.Name, server.PollerName,
            [.. server.LocalEndPoints.Select(e => e.ToString())], stats.ToDictionary(), new(stats.AbortsByReason),
            new(server.HandlerCounters), [.. server.PerReactor.Select(PerReactorLine)],
            new StatsFds(own.Total, [.. own.ListenerFds], [.. own.PollerFds], [.. own.WakerFds], own.SpareFd, own.ConnectionFds.Count,
                own.ReservedFds.Count, procTotal, procTcp));
        return (stats, own, snapshot);
    }

    private void WriteFile(StatsSnapshot snapshot)
    {
        try
        {
            StatsFile.Write(snapshot);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("could not write {Path}: {Error}", StatsFile.PathFor(snapshot.Pid), e.Message);
        }
    }

    // One reactor's share: "connections=12 iterations=3400 bytes in=... out=... eagain send=0 recv=1".
    public static string PerReactorLine(ServerStats stats) =>
        $"connections={stats[Counter.ConnectionsOpen]} accepted={stats[Counter.ConnectionsAccepted]} iterations={stats[Counter.LoopIterations]} " +
        $"bytes in={stats[Counter.BytesReceived]} out={stats[Counter.BytesSent]} eagain send={stats[Counter.SendWouldBlock]} recv={stats[Counter.RecvWouldBlock]}";

    // " | chat: lines-too-long=0 ...": the protocol's own counters, when it keeps any.
    public static string HandlerCounters(Server server) => HandlerCounters(server.Handler.Name, server.HandlerCounters);

    public static string HandlerCounters(string protocol, IEnumerable<KeyValuePair<string, long>> counters) =>
        counters.Any() ? $" | {protocol}: {string.Join(' ', counters.Select(c => $"{c.Key}={c.Value}"))}" : "";

    public IDisposable StartPeriodic(TimeSpan interval)
    {
        var timer = new PeriodicTimer(interval);
        _ = Task.Run(async () =>
        {
            while (await timer.WaitForNextTickAsync().ConfigureAwait(false))
                await ReportAsync().ConfigureAwait(false);
        });
        return timer;
    }
}
