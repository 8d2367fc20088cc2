// redis-server as a child process (Debian's redis-server), for the bench's chat-across-daemons peer and the tests:
// no persistence, loopback only. Redis cannot bind port 0 and say which it got, so it is given a port; one another
// program holds makes it exit at once (and the next is tried), and it counts as started only once /proc shows it
// holding that port's listener.
namespace EpollServer.LoadTests.Bench;

internal static class RedisChild
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    // On a free-looking port, trying others while they are taken.
    // extra: arguments given the port (later arguments win in Redis's configuration: "--port 0 --tls-port P").
    public static (ChildProcess Redis, int Port) Start(IReadOnlyList<string>? wrapper = null, Func<int, IReadOnlyList<string>>? extra = null) =>
        ChildProcess.OnSomeFreePort(port => TryStart(port, wrapper, extra), () => "redis-server");

    // On `port`, or null when something else holds it.
    public static ChildProcess? TryStart(int port, IReadOnlyList<string>? wrapper = null, Func<int, IReadOnlyList<string>>? extra = null)
    {
        ChildProcess redis;
        try
        {
            redis = ChildProcess.Start(["redis-server", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", Path.GetTempPath(), "--loglevel", "warning", .. extra?.Invoke(port) ?? []], wrapper);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"redis-server is not installed (Debian: apt-get install redis-server): {e.Message}", e);
        }
        if (redis.WaitForListeningOn(port, StartTimeout))
            return redis;
        redis.Dispose();
        return null;
    }
}
