// `epollserver stats [--pid PID]`: asks a running daemon for its counters and fd accounting and prints them, with
// this command's own reading of /proc/PID/fd beside the daemon's count. It sends SIGUSR1 and reads the stats file
// the daemon writes in answer (StatsFile). Run it where the daemon runs: `docker exec NAME epollserver stats`.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using EpollServer.Diagnostics;
using EpollServer.Interop;

namespace EpollServer.Host;

internal static class StatsCommand
{
    private static readonly Option<int> Pid = new("--pid") { Description = "the daemon's pid (default: the one epollserver process found in /proc)" };
    private static readonly Option<double> Timeout = new("--timeout", "-W") { Description = "seconds to wait for the daemon's answer", DefaultValueFactory = _ => 5 };
    private static readonly Option<bool> Json = new("--json") { Description = "print the daemon's snapshot as JSON" };

    public static Command Create()
    {
        var command = new Command("stats", "print a running daemon's counters and its fd count beside /proc/PID/fd") { Pid, Timeout, Json };
        command.SetAction(Run);
        return command;
    }

    private static int Run(ParseResult parsed)
    {
        if (!OperatingSystem.IsLinux())
            return Fail("needs Linux (/proc); send SIGUSR1 and read the daemon's stats line instead");
        int pid = parsed.GetValue(Pid);
        if (pid == 0 && FindDaemon(out pid) is { } notFound)
            return Fail(notFound);
        DateTime asked = DateTime.UtcNow;
        SyscallResult signalled = Sys.Kill(pid, (int)StatsReporter.SIGUSR1);
        if (!signalled.Ok)
            return Fail($"cannot signal pid {pid}: {signalled.Error}");
        StatsSnapshot? snapshot = null;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while ((snapshot = StatsFile.TryRead(pid)) is null || snapshot.WrittenAtUtc < asked)
        {
            if (waited.Elapsed.TotalSeconds > parsed.GetValue(Timeout))
                break;
            Thread.Sleep(20);
        }
        if (snapshot is null || snapshot.WrittenAtUtc < asked)
            return Fail($"pid {pid} wrote no stats to {StatsFile.PathFor(pid)} within {parsed.GetValue(Timeout)} s; is it an epollserver daemon?");
        if (parsed.GetValue(Json))
            Console.WriteLine(JsonSerializer.Serialize(snapshot!, StatsJson.Default.StatsSnapshot));
        else
            Print(snapshot!, pid);
        return 0;
    }

    private static void Print(StatsSnapshot s, int pid)
    {
        Console.WriteLine($"epollserver pid {s.Pid}: {s.Protocol} on {string.Join(", ", s.Endpoints)}, poller {s.Poller}, " +
            $"at {s.WrittenAtUtc.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)}");
        // The stats line's groups, one per line.
        foreach (string group in ServerStats.Format(s.Counters, [.. s.AbortsByReason]).Split(" | "))
            Console.WriteLine("  " + group);
        if (s.HandlerCounters.Count > 0)
            Console.WriteLine("  " + StatsReporter.HandlerCounters(s.Protocol, s.HandlerCounters)[3..]);
        StatsFds f = s.Fds;
        if (s.Reactors.Length > 1)
        {
            for (int i = 0; i < s.Reactors.Length; i++)
                Console.WriteLine($"  reactor {i}: {s.Reactors[i]}");
        }
        Console.WriteLine($"  fds: the server's own {f.Own} (listeners {f.Listeners.Length}, pollers {f.Pollers.Length}, wakers {f.Wakers.Length}, " +
            $"spare {(f.Spare >= 0 ? 1 : 0)}, reserved {f.Reserved}, connections {f.Connections})");
        if (f.ProcTotal >= 0)
            Console.WriteLine($"  fds: /proc/{pid}/fd at that moment {f.ProcTotal}, {f.ProcTcpSockets} of them TCP sockets " +
                $"(listeners + connections: {f.Listeners.Length + f.Connections})");
        // Read here, by another process, the way an operator would: the gap to the server's count is the runtime's
        // own fds (stdio, its pipes and event fds, the files it maps).
        try
        {
            Console.WriteLine($"  fds: /proc/{pid}/fd now {ProcFd.Count(pid)}, {ProcFd.CountTcpSockets(pid)} TCP sockets " +
                $"(compare: ls /proc/{pid}/fd | wc -l, lsof -p {pid})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.WriteLine($"  fds: /proc/{pid}/fd cannot be read here: {e.Message}");
        }
    }

    // The single process whose command is epollserver (the apphost or `dotnet epollserver.dll`) serving, not this one.
    private static string? FindDaemon(out int pid)
    {
        pid = 0;
        var found = new List<int>();
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), CultureInfo.InvariantCulture, out int candidate) || candidate == Environment.ProcessId)
                continue;
            if (IsServingDaemon(ReadCommandLine(candidate)))
                found.Add(candidate);
        }
        if (found.Count == 1)
        {
            pid = found[0];
            return null;
        }
        return found.Count == 0
            ? "no epollserver daemon found in /proc; give --pid"
            : $"{found.Count} epollserver daemons run (pids {string.Join(", ", found)}); give --pid";
    }

    public static bool IsServingDaemon(string[] argv)
    {
        int program = Array.FindIndex(argv, a => Path.GetFileName(a) is "epollserver" or "epollserver.dll");
        // dotnet's own options come before the dll; anything after it that names a subcommand is a client, not a daemon.
        if (program < 0 || (program > 0 && Path.GetFileName(argv[0]) != "dotnet"))
            return false;
        return argv.Length == program + 1 || argv[program + 1] is not ("client" or "ping" or "health" or "stats");
    }

    private static string[] ReadCommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];   // gone, or not ours to read
        }
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"epollserver stats: {message}");
        return 1;
    }
}
