// Reads a process's fd table the way an operator would (ls -l /proc/PID/fd), plus which sockets are TCP.
using System.Globalization;

namespace EpollServer.Diagnostics;

public sealed record ProcFdEntry(int Fd, string Target)
{
    public bool IsSocket => Target.StartsWith("socket:[", StringComparison.Ordinal);

    public long SocketInode => IsSocket ? long.Parse(Target.AsSpan(8, Target.Length - 9), CultureInfo.InvariantCulture) : -1;
}

public static class ProcFd
{
    public static IReadOnlyList<ProcFdEntry> List(int pid)
    {
        var entries = new List<ProcFdEntry>();
        foreach (string path in Directory.EnumerateFiles($"/proc/{pid}/fd"))
        {
            // An fd can close between the listing and the readlink; skip it rather than fail the whole report.
            string? target = new FileInfo(path).LinkTarget;
            if (target is not null && int.TryParse(Path.GetFileName(path), CultureInfo.InvariantCulture, out int fd))
                entries.Add(new ProcFdEntry(fd, target));
        }
        entries.Sort((a, b) => a.Fd.CompareTo(b.Fd));
        return entries;
    }

    public static int Count(int pid) => Directory.EnumerateFiles($"/proc/{pid}/fd").Count();

    // Inodes of every TCP socket in the process's network namespace (/proc/net/tcp and tcp6, column 10).
    public static HashSet<long> TcpSocketInodes(int pid) => [.. TcpRows(pid).Select(r => r.Inode)];

    // Inodes of the TCP sockets listening on `port` in the process's network namespace (state 0A is LISTEN).
    public static HashSet<long> ListeningInodes(int pid, int port) =>
        [.. TcpRows(pid).Where(r => r.State == "0A" && r.LocalPort == port).Select(r => r.Inode)];

    // True when the process itself holds a socket listening on `port` (not merely some program in its namespace).
    public static bool HoldsListener(int pid, int port)
    {
        HashSet<long> listening = ListeningInodes(pid, port);
        return listening.Count > 0 && List(pid).Any(e => e.IsSocket && listening.Contains(e.SocketInode));
    }

    private static IEnumerable<(int LocalPort, string State, long Inode)> TcpRows(int pid)
    {
        foreach (string table in new[] { $"/proc/{pid}/net/tcp", $"/proc/{pid}/net/tcp6" })
        {
            if (!File.Exists(table))
                continue;
            foreach (string line in File.ReadLines(table).Skip(1))
            {
                string[] columns = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (columns.Length > 9 && long.TryParse(columns[9], CultureInfo.InvariantCulture, out long inode)
                    && int.TryParse(columns[1].AsSpan(columns[1].LastIndexOf(':') + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int port))
                {
                    yield return (port, columns[3], inode);
                }
            }
        }
    }

    // How many of the process's fds are TCP sockets: listeners plus connections, nothing else.
    public static int CountTcpSockets(int pid)
    {
        HashSet<long> tcp = TcpSocketInodes(pid);
        return List(pid).Count(e => e.IsSocket && tcp.Contains(e.SocketInode));
    }
}
