// The stats line: the server's counters and its own fd accounting beside what /proc/PID/fd shows.
using System.Runtime.InteropServices;
using EpollServer.Diagnostics;
using Microsoft.Extensions.Logging;

namespace EpollServer.Host;

internal sealed class StatsReporter(Server server, ILogger logger)
{
    // PosixSignal has no member for SIGUSR1; raw numbers are accepted (10 on Linux, 30 on macOS and the BSDs).
    public static readonly PosixSignal SIGUSR1 = (PosixSignal)(OperatingSystem.IsLinux() ? 10 : 30);

    // Off the loop thread: the loop only copies its fd list; reading /proc happens here.
    public async Task ReportAsync()
    {
        try
        {
            FdReport own = await server.GetFdReportAsync().ConfigureAwait(false);
            int pid = Environment.ProcessId;
            string proc = OperatingSystem.IsLinux()
                ? $" | /proc/{pid}/fd total={ProcFd.Count(pid)} tcp-sockets={ProcFd.CountTcpSockets(pid)}"
                : "";
            logger.LogInformation("stats: {Stats}{Handler} | {Fds} fd-list=[{List}]{Proc}", server.Stats, HandlerCounters(server), own,
                string.Join(',', own.AllFds.Take(64)), proc);
        }
        catch (InvalidOperationException)
        {
            // Stopping: the final line comes from the daemon.
        }
    }

    // " | chat: lines-too-long=0 ...": the protocol's own counters, when it keeps any.
    public static string HandlerCounters(Server server) =>
        server.Handler.DescribeCounters() is { } counters ? $" | {server.Handler.Name}: {counters}" : "";

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
