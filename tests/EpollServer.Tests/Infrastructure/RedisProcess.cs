// A real redis-server (Debian's package; scripts/test installs it without starting its service) for the backplane
// tests, started as the bench starts one (RedisChild: a given port, found by the listener it holds). It can be
// stopped and started again on the same port (Redis restarted mid-conversation), or frozen with SIGSTOP (a Redis
// that answers nothing).
using EpollServer.LoadTests.Bench;

namespace EpollServer.Tests.Infrastructure;

public sealed class RedisProcess : IDisposable
{
    private const int SIGKILL = 9, SIGCONT = 18, SIGSTOP = 19;

    private ChildProcess _child;
    private readonly Func<int, IReadOnlyList<string>>? _extra;

    private RedisProcess(ChildProcess child, int port, Func<int, IReadOnlyList<string>>? extra, bool tls)
    {
        _child = child;
        Port = port;
        _extra = extra;
        Tls = tls;
    }

    public int Port { get; }

    // Serving TLS only (--port 0 --tls-port Port): redis-cli is given the test's CA.
    public bool Tls { get; }

    public string? CaFile { get; private set; }

    public string Url => $"redis://127.0.0.1:{Port}";

    // extra: more redis-server arguments given the port (an ACL user: "--user", "NAME on >PASSWORD ~* &* +@all").
    public static RedisProcess Start(Func<int, IReadOnlyList<string>>? extra = null)
    {
        try
        {
            (ChildProcess child, int port) = RedisChild.Start(extra: extra);
            return new RedisProcess(child, port, extra, tls: false);
        }
        catch (InvalidOperationException e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message} (scripts/test installs it)");
        }
    }

    // TLS only, on the port, with the certificate and key in PEM files of the test's (--tls-auth-clients no: the
    // client is not asked for a certificate).
    public static RedisProcess StartTls(string certFile, string keyFile, string caFile, Func<int, IReadOnlyList<string>>? more = null)
    {
        IReadOnlyList<string> Tls(int port) => ["--port", "0", "--tls-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no", .. more?.Invoke(port) ?? []];
        try
        {
            (ChildProcess child, int port) = RedisChild.Start(extra: Tls);
            return new RedisProcess(child, port, Tls, tls: true) { CaFile = caFile };
        }
        catch (InvalidOperationException e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message} (scripts/test installs it)");
        }
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
            if (TryStartOn(Port, _extra) is { } child)
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
        ExternalTool.Run("redis-cli", ["-p", Port.ToString(), .. Tls ? new[] { "--tls", "--cacert", CaFile! } : [], "--raw", .. command],
            "redis-cli failed (apt-get install redis-tools)").Trim();

    public void Dispose()
    {
        if (!_child.HasExited)
        {
            _child.Signal(SIGCONT);
            _child.Signal(SIGKILL);
        }
        _child.Dispose();
    }

    private static ChildProcess? TryStartOn(int port, Func<int, IReadOnlyList<string>>? extra)
    {
        try
        {
            return RedisChild.TryStart(port, extra: extra);
        }
        catch (InvalidOperationException e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message} (scripts/test installs it)");
        }
    }
}
