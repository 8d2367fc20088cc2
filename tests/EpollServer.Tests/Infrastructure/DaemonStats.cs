// Asks the daemon for its stats line (SIGUSR1) and parses its own fd accounting out of it.
using System.Text.RegularExpressions;

namespace EpollServer.Tests.Infrastructure;

public sealed partial record DaemonFdReport(int OwnTotal, int[] Pollers, int[] Wakers, int Spare, int Connections, int Reserved, int[] ListedFds, int[] Listeners)
{
    private static int _requests;

    public static DaemonFdReport Request(DaemonProcess daemon)
    {
        int before = daemon.Lines.Count(l => StatsLine().IsMatch(l));
        Interlocked.Increment(ref _requests);
        daemon.Signal(DaemonProcess.SIGUSR1);
        return Parse(daemon.WaitForLine(StatsLine(), skip: before));
    }

    public static DaemonFdReport Parse(string line)
    {
        Match m = StatsLine().Match(line);
        return new DaemonFdReport(
            int.Parse(m.Groups["own"].Value), Fds(m, "pollers"), Fds(m, "wakers"),
            int.Parse(m.Groups["spare"].Value), int.Parse(m.Groups["conns"].Value), int.Parse(m.Groups["reserved"].Value),
            Fds(m, "list"), Fds(m, "listeners"));
    }

    private static int[] Fds(Match m, string group) =>
        m.Groups[group].Value.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();

    [GeneratedRegex(@"stats: .*fds own=(?<own>\d+) \(listeners=\[(?<listeners>[\d,]*)\] pollers=\[(?<pollers>[\d,]*)\] wakers=\[(?<wakers>[\d,]*)\] spare=(?<spare>\d+) connections=(?<conns>\d+) reserved=(?<reserved>\d+)\) fd-list=\[(?<list>[\d,]*)\]")]
    public static partial Regex StatsLine();
}
