// Asks the daemon for its stats line (SIGUSR1) and parses its own fd accounting out of it.
using System.Text.RegularExpressions;

namespace EpollServer.Tests.Infrastructure;

public sealed partial record DaemonFdReport(int OwnTotal, int Poller, int Waker, int Spare, int Connections, int Reserved, int[] ListedFds, int[] Listeners)
{
    private static int _requests;

    public static DaemonFdReport Request(DaemonProcess daemon)
    {
        int before = daemon.Lines.Count(l => l.Contains("stats: ", StringComparison.Ordinal));
        Interlocked.Increment(ref _requests);
        daemon.Signal(DaemonProcess.SIGUSR1);
        return Parse(daemon.WaitForLine(StatsLine(), skip: before));
    }

    public static DaemonFdReport Parse(string line)
    {
        Match m = StatsLine().Match(line);
        return new DaemonFdReport(
            int.Parse(m.Groups["own"].Value), int.Parse(m.Groups["poller"].Value), int.Parse(m.Groups["waker"].Value),
            int.Parse(m.Groups["spare"].Value), int.Parse(m.Groups["conns"].Value), int.Parse(m.Groups["reserved"].Value),
            m.Groups["list"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray(),
            m.Groups["listeners"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray());
    }

    [GeneratedRegex(@"stats: .*fds own=(?<own>\d+) \(listeners=\[(?<listeners>[\d,]*)\] poller=(?<poller>\d+) waker=(?<waker>\d+) spare=(?<spare>\d+) connections=(?<conns>\d+) reserved=(?<reserved>\d+)\) fd-list=\[(?<list>[\d,]*)\]")]
    public static partial Regex StatsLine();
}
