// `epollserver stats [--pid PID]`: asks a running daemon for its counters and fd accounting and prints them, with
// this command's own reading of /proc/PID/fd beside the daemon's count. With the admin endpoint on (--admin-port,
// or EPOLLSERVER_ADMIN_PORT as the daemon has it) it asks GET /stats; otherwise it sends SIGUSR1 and reads the stats
// file the daemon writes in answer (StatsFile). Run it where the daemon runs: `docker exec NAME epollserver stats`.
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
    private static readonly Option<int> AdminPort = new("--admin-port")
    {
        Description = "ask the daemon's admin endpoint on this port (default: EPOLLSERVER_ADMIN_PORT; 0: send SIGUSR1 instead)",
        DefaultValueFactory = _ => int.TryParse(Environment.GetEnvironmentVariable("EPOLLSERVER_ADMIN_PORT"), out int port) ? port : 0,
    };
    private static readonly Option<string> AdminAddress = new("--admin-address")
    {
        Description = "the admin endpoint's address (default: EPOLLSERVER_ADMIN_ADDRESS, else 127.0.0.1)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("EPOLLSERVER_ADMIN_ADDRESS") is { Length: > 0 } a ? a : "127.0.0.1",
    };

    public static Command Create()
    {
        var command = new Command("stats", "print a running daemon's counters and its fd count beside /proc/PID/fd") { Pid, Timeout, Json, AdminPort, AdminAddress };
        command.SetAction(Run);
        return command;
    }

    private static int Run(ParseResult parsed)
    {
        if (!OperatingSystem.IsLinux())
            return Fail("needs Linux (/proc); send SIGUSR1 and read the daemon's stats line instead");
        if (parsed.GetValue(AdminPort) is int adminPort and > 0)
            return FromAdmin(parsed, adminPort);
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

    // GET /stats from the admin endpoint: the same snapshot, without a signal or a file.
    private static int FromAdmin(ParseResult parsed, int port)
    {
        string address = parsed.GetValue(AdminAddress)!;
        if (!System.Net.IPAddress.TryParse(address, out System.Net.IPAddress? ip))
            return Fail($"--admin-address '{address}' is not an IPv4 or IPv6 address");
        var timeout = TimeSpan.FromSeconds(parsed.GetValue(Timeout));
        SyscallResult connected = Net.BlockingSocket.Connect(new System.Net.IPEndPoint(ip, port), udp: false, timeout, out Net.BlockingSocket? socket);
        if (!connected.Ok)
            return Fail($"cannot reach the admin endpoint on {address}:{port}: {connected.Error}");
        using (socket)
        {
            socket!.SetReceiveTimeout(timeout);
            socket.SendAll("GET /stats HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"u8);
            var answer = new MemoryStream();
            var buffer = new byte[64 * 1024];
            SyscallResult received;
            while ((received = socket.Receive(buffer)).Ok && received.Value > 0)
                answer.Write(buffer, 0, (int)received.Value);
            byte[] bytes = answer.ToArray();
            int bodyAt = bytes.AsSpan().IndexOf("\r\n\r\n"u8);
            if (bodyAt < 0 || !bytes.AsSpan().StartsWith("HTTP/1.1 200 "u8))
                return Fail($"the admin endpoint on {address}:{port} did not answer GET /stats with 200");
            StatsSnapshot? snapshot = JsonSerializer.Deserialize(bytes.AsSpan(bodyAt + 4), StatsJson.Default.StatsSnapshot);
            if (snapshot is null)
                return Fail("the admin endpoint's /stats was empty");
            if (parsed.GetValue(Json))
                Console.WriteLine(JsonSerializer.Serialize(snapshot, StatsJson.Default.StatsSnapshot));
            else
                Print(snapshot, snapshot.Pid);
            return 0;
        }
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
