// The soak's servers: one epollserver per protocol (a daemon serves one), all on the server CPUs with the same
// environment: echo with the admin endpoint on, line, chat, an upstream echo daemon and the proxy in front of it,
// and http. Each is started on port 0 as the bench starts its peers (PeerProcess: refused if unoptimised, its build
// read back), sampled together, and stopped in reverse order (the proxy before its upstream).
using System.Net;
using System.Text.RegularExpressions;
using EpollServer.LoadTests.Bench;
using EpollServer.LoadTests.Engine;

namespace EpollServer.LoadTests.Cli;

internal sealed partial class SoakDaemons : IDisposable
{
    private static readonly TimeSpan AdminTimeout = TimeSpan.FromSeconds(15);

    private readonly List<(string Name, PeerProcess Process)> _daemons = [];

    private SoakDaemons()
    {
    }

    public PeerProcess Echo => Find("echo+admin");

    public PeerProcess Line => Find("line");

    public PeerProcess Chat => Find("chat");

    public PeerProcess Proxy => Find("proxy");

    public PeerProcess Http => Find("http");

    public IPEndPoint Admin { get; private set; } = new(IPAddress.Loopback, 0);

    public IReadOnlyList<string> Names => [.. _daemons.Select(d => d.Name)];

    public IEnumerable<ProcessBuild> Builds => _daemons.Where(d => d.Process.Build is not null).Select(d => d.Process.Build! with { Name = d.Name });

    public static SoakDaemons Start(PeerFiles files, string? cpus, IReadOnlyDictionary<string, string> environment)
    {
        var daemons = new SoakDaemons();
        Peer peer = Peers.Find(Peers.EpollServer);
        PeerProcess Start(string protocol, params string[] extra) => PeerProcess.StartOn(peer, files, protocol, cpus, environment, 0, extra);
        try
        {
            daemons.StartEchoWithAdmin(peer, files, cpus, environment);
            daemons._daemons.Add(("line", Start("line")));
            daemons._daemons.Add(("chat", Start("chat")));
            PeerProcess upstream = Start("echo");
            daemons._daemons.Add(("upstream", upstream));
            daemons._daemons.Add(("proxy", Start("proxy", "--upstream", $"127.0.0.1:{upstream.Port}")));
            daemons._daemons.Add(("http", Start("http")));
            return daemons;
        }
        catch
        {
            daemons.Dispose();
            throw;
        }
    }

    // The admin endpoint needs a port given (it has no port-0 form that reports itself): free-looking ones are tried
    // until one is not taken; a taken one makes the daemon exit before it listens.
    private void StartEchoWithAdmin(Peer peer, PeerFiles files, string? cpus, IReadOnlyDictionary<string, string> environment)
    {
        string failure = "";
        (PeerProcess echo, int port) = ChildProcess.OnSomeFreePort(port =>
        {
            try
            {
                PeerProcess started = PeerProcess.StartOn(peer, files, "echo", cpus, environment, 0, ["--admin-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                if (started.WaitForLine(AdminLine(), AdminTimeout) is not null)
                    return started;
                failure = started.RecentOutput();
                started.Dispose();
                return null;
            }
            catch (InvalidOperationException e) when (e is not UnoptimizedBuildException)
            {
                failure = e.Message;
                return null;
            }
        }, () => $"epollserver --admin-port ({failure})");
        _daemons.Add(("echo+admin", echo));
        Admin = new IPEndPoint(IPAddress.Loopback, port);
    }

    public string Describe() => string.Join(", ", _daemons.Select(d => d.Name switch
    {
        "echo+admin" => $"echo on :{d.Process.Port} with the admin endpoint on :{Admin.Port}",
        "proxy" => $"proxy on :{d.Process.Port} to the upstream",
        _ => $"{d.Name} on :{d.Process.Port}",
    }));

    // One exchange of every kind the mix makes, before the baseline is taken: the first /metrics or proxied
    // connection loads assemblies the runtime then keeps open (two fds each), which are not a leak but would read as
    // fds not back to baseline. Then waits, up to 5 s, until no daemon's fd count has moved for a second.
    public void Prime()
    {
        foreach (string path in new[] { "/metrics", "/stats", "/healthz" })
            Exchange(Admin, $"GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n", untilClosed: true);
        Exchange(Http.EndPoint, "GET /plaintext HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n", untilClosed: true);
        foreach (PeerProcess daemon in new[] { Echo, Line, Proxy })
            Exchange(daemon.EndPoint, "x\n", untilClosed: false);
        Exchange(Chat.EndPoint, "", untilClosed: false);
        long deadline = Environment.TickCount64 + 5_000, stableSince = Environment.TickCount64;
        var last = FdCounts();
        while (Environment.TickCount64 < deadline && Environment.TickCount64 - stableSince < 1_000)
        {
            Thread.Sleep(100);
            var now = FdCounts();
            if (!now.SequenceEqual(last))
                stableSince = Environment.TickCount64;
            last = now;
        }
    }

    private List<int> FdCounts() => [.. _daemons.Select(d => ProcessProbe.Sample(d.Process.Pid)?.Fds ?? -1)];

    // Sends `request` and reads an answer (to the end, or its first bytes), within 5 s.
    private static void Exchange(IPEndPoint target, string request, bool untilClosed)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { ReceiveTimeout = 5_000 };
        socket.Connect(target);
        socket.Send(System.Text.Encoding.ASCII.GetBytes(request));
        var buffer = new byte[64 * 1024];
        while (socket.Receive(buffer) is int read && read > 0 && untilClosed)
        {
        }
    }

    // What each of a daemon's fds is (a socket, a file, an assembly), to name what was left open when fds do not
    // come back to baseline.
    public static Dictionary<string, string> FdTargets(int pid)
    {
        var targets = new Dictionary<string, string>();
        try
        {
            foreach (string entry in Directory.GetFileSystemEntries($"/proc/{pid}/fd"))
            {
                try
                {
                    targets[Path.GetFileName(entry)] = File.ResolveLinkTarget(entry, false)?.ToString() ?? "?";
                }
                catch (IOException)
                {
                    // closed while we looked
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the process has gone
        }
        return targets;
    }

    public Dictionary<string, Dictionary<string, string>> AllFdTargets() => _daemons.ToDictionary(d => d.Name, d => FdTargets(d.Process.Pid));

    public int PidOf(string name) => Find(name).Pid;

    // Every daemon's RSS, fds and CPU now; null when any has gone.
    public Dictionary<string, ProcessSample>? Sample()
    {
        var samples = new Dictionary<string, ProcessSample>();
        foreach ((string name, PeerProcess process) in _daemons)
        {
            if (ProcessProbe.Sample(process.Pid) is not { } sample)
                return null;
            samples[name] = sample;
        }
        return samples;
    }

    // Each daemon's fds once they are back to its baseline (or the deadline passed).
    public Dictionary<string, ProcessSample?> WaitForFds(Dictionary<string, ProcessSample> baseline, TimeSpan timeout) =>
        _daemons.ToDictionary(d => d.Name, d => ProcessProbe.WaitForFds(d.Process.Pid, baseline[d.Name].Fds, timeout));

    // SIGTERM to each, last started first; each one's exit code (null: killed after the stop timeout).
    public Dictionary<string, int?> Stop()
    {
        var codes = new Dictionary<string, int?>();
        foreach ((string name, PeerProcess process) in Enumerable.Reverse(_daemons))
            codes[name] = process.Stop();
        return codes;
    }

    private PeerProcess Find(string name) => _daemons.First(d => d.Name == name).Process;

    public void Dispose()
    {
        foreach ((_, PeerProcess process) in Enumerable.Reverse(_daemons))
            process.Dispose();
    }

    [GeneratedRegex("admin endpoint on ")]
    private static partial Regex AdminLine();
}
