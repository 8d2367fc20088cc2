// A real redis-server (Debian's package; scripts/test installs it without starting its service) as a child
// process for the backplane tests: no persistence, loopback only. Redis cannot bind port 0 and say which it got,
// so it is given a port; one another program holds makes it exit at once and the next is tried, and it counts as
// started only once /proc shows it holding the listener (ChildProcess.WaitForListeningOn). It can be stopped and
// started again on the same port (Redis restarted mid-conversation), or frozen with SIGSTOP (a Redis that answers
// nothing).
using EpollServer.LoadTests.Bench;

namespace EpollServer.Tests.Infrastructure;

public sealed class RedisProcess : IDisposable
{
    private const int SIGKILL = 9, SIGCONT = 18, SIGSTOP = 19;

    private ChildProcess _child;

    private RedisProcess(ChildProcess child, int port)
    {
        _child = child;
        Port = port;
    }

    public int Port { get; }

    public string Url => $"redis://127.0.0.1:{Port}";

    public static RedisProcess Start()
    {
        for (int attempt = 0; attempt < 10; attempt++)
        {
            int port = Random.Shared.Next(20_000, 60_000);
            if (TryStartOn(port) is { } child)
                return new RedisProcess(child, port);
        }
        throw new Xunit.Sdk.XunitException("redis-server did not start on any of 10 ports (is it installed? scripts/test installs it)");
    }

    // Stopped (SIGTERM, as an operator restarts it), with everything it held gone: no persistence.
    public void Stop()
    {
        _child.Stop(TimeSpan.FromSeconds(10));
        _child.Dispose();
    }

    // Back on the same port, retrying while the port is still in TIME_WAIT's way or briefly taken.
    public void StartAgain()
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            if (TryStartOn(Port) is { } child)
            {
                _child = child;
                return;
            }
            Thread.Sleep(100);
        }
        throw new Xunit.Sdk.XunitException($"redis-server did not start again on port {Port} within 15 s");
    }

    public void Freeze() => Assert.Equal(0, _child.Signal(SIGSTOP));

    public void Thaw() => Assert.Equal(0, _child.Signal(SIGCONT));

    // A command through redis-cli (Debian's redis-tools, which redis-server depends on).
    public string Cli(params string[] command) =>
        ExternalTool.Run("redis-cli", ["-p", Port.ToString(), "--raw", .. command], "redis-cli failed (apt-get install redis-tools)").Trim();

    public void Dispose()
    {
        if (!_child.HasExited)
        {
            _child.Signal(SIGCONT);
            _child.Signal(SIGKILL);
        }
        _child.Dispose();
    }

    private static ChildProcess? TryStartOn(int port)
    {
        ChildProcess child;
        try
        {
            child = ChildProcess.Start(["redis-server", "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--protected-mode", "no", "--dir", Path.GetTempPath(), "--loglevel", "warning"]);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new Xunit.Sdk.XunitException($"redis-server is not installed (apt-get install redis-server; scripts/test installs it): {e.Message}");
        }
        if (child.WaitForListeningOn(port, TimeSpan.FromSeconds(15)))
            return child;
        child.Dispose();
        return null;
    }
}
