// The stats snapshot a daemon leaves for `epollserver stats`: on SIGUSR1 (and every --stats-interval) it writes
// $TMPDIR/epollserver-PID.stats as JSON beside logging its stats line. A signal carries no answer, and a file is
// what a `docker exec` next to the daemon can read; the JVM's attach mechanism pairs a signal with a file in /tmp
// the same way. Written to a fresh temporary name and renamed over the old one, so a reader never sees half.
using System.Text.Json;
using System.Text.Json.Serialization;
using EpollServer.Diagnostics;

namespace EpollServer.Host;

// Counters: every counter by its key (ServerCounters.Definitions); the handler's own by name.
internal sealed record StatsSnapshot(
    DateTime WrittenAtUtc,
    int Pid,
    string Protocol,
    string Poller,
    string[] Endpoints,
    Dictionary<string, long> Counters,
    Dictionary<string, long> AbortsByReason,
    Dictionary<string, long> HandlerCounters,
    string[] Reactors,
    StatsFds Fds);

// The server's own fd accounting by role, and what /proc/PID/fd showed at the same moment (-1: not Linux).
internal sealed record StatsFds(int Own, int[] Listeners, int[] Pollers, int[] Wakers, int Spare, int Connections, int Reserved,
    int ProcTotal, int ProcTcpSockets);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.KebabCaseLower)]
[JsonSerializable(typeof(StatsSnapshot))]
internal sealed partial class StatsJson : JsonSerializerContext;

internal static class StatsFile
{
    private static long _writes;

    public static string PathFor(int pid) => Path.Combine(Path.GetTempPath(), $"epollserver-{pid}.stats");

    public static void Write(StatsSnapshot snapshot)
    {
        string path = PathFor(snapshot.Pid);
        // CreateNew (O_EXCL): nothing planted under that name is followed or overwritten (the write fails instead).
        // A counter, not a Guid: the first Guid opens /dev/urandom for good, one fd more than the server accounts for.
        string temporary = $"{path}.{Interlocked.Increment(ref _writes)}.tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
                JsonSerializer.Serialize(stream, snapshot, StatsJson.Default.StatsSnapshot);
            File.Move(temporary, path, overwrite: true);   // rename(2): atomic, and replaces a symlink rather than following it
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    // The snapshot written for the daemon `pid`, or null while there is none (or it is being replaced).
    public static StatsSnapshot? TryRead(int pid)
    {
        try
        {
            using var stream = File.OpenRead(PathFor(pid));
            return JsonSerializer.Deserialize(stream, StatsJson.Default.StatsSnapshot);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static void Delete(int pid)
    {
        try
        {
            File.Delete(PathFor(pid));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left behind in the temporary directory: harmless, and the next daemon with this pid overwrites it.
        }
    }
}
