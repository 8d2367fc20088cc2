// One server under test as a child process: started on port 0 (pinned with taskset when asked), ready once it prints
// "listening on" with the port it bound, stopped with SIGTERM and its exit code kept for the report.
using System.Net;

namespace EpollServer.LoadTests.Bench;

internal sealed class PeerProcess : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly ChildProcess _child;
    private readonly List<ChildProcess> _companions = [];   // a second daemon and its Redis (Peer.TwoOnRedis)

    private PeerProcess(Peer peer, ChildProcess child)
    {
        Peer = peer;
        _child = child;
    }

    public Peer Peer { get; }

    // How the server was built and launched, read from the running process (BuildInfo.cs).
    public ProcessBuild? Build { get; private set; }

    public int Port => _child.Port;

    public int Pid => _child.Pid;

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    // Where chat receivers connect: the second daemon, for a peer on Redis; null otherwise.
    public IPEndPoint? ReceiverEndPoint { get; private set; }

    public IReadOnlyList<int> CompanionPids => [.. _companions.Select(c => c.Pid)];

    public static PeerProcess Start(Peer peer, PeerFiles files, string protocol, string? cpus,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        if (peer.TwoOnRedis)
            return StartTwoOnRedis(peer, files, protocol, cpus, environment);
        if (peer.ReportsItsPort)
            return StartOn(peer, files, protocol, cpus, environment, 0);
        // A peer given its port: one that another program holds makes it exit at once, and the next is tried.
        string failure = "";
        return ChildProcess.OnSomeFreePort(port =>
        {
            try
            {
                return StartOn(peer, files, protocol, cpus, environment, port);
            }
            catch (InvalidOperationException e)
            {
                failure = e.Message;
                return null;
            }
        }, () => $"{peer.Name} ({failure})").Started;
    }

    // Redis, then the daemon twice on it (all on the server's CPUs): the first is the peer, the rest its companions.
    private static PeerProcess StartTwoOnRedis(Peer peer, PeerFiles files, string protocol, string? cpus, IReadOnlyDictionary<string, string>? environment)
    {
        cpus = peer.Cpus ?? cpus;
        (ChildProcess redis, int redisPort) = RedisChild.Start(Wrapper(cpus));
        string[] backplane = ["--backplane", $"redis://127.0.0.1:{redisPort}"];
        PeerProcess? first = null;
        try
        {
            first = StartOn(peer, files, protocol, cpus, environment, 0, backplane);
            first._companions.Add(redis);
            PeerProcess second = StartOn(peer, files, protocol, cpus, environment, 0, backplane);
            first._companions.Insert(0, second._child);
            first.ReceiverEndPoint = second.EndPoint;
            return first;
        }
        catch
        {
            if (first is null)
                redis.Dispose();
            first?.Dispose();
            throw;
        }
    }

    internal static PeerProcess StartOn(Peer peer, PeerFiles files, string protocol, string? cpus,
        IReadOnlyDictionary<string, string>? environment, int port, IReadOnlyList<string>? extraArguments = null)
    {
        cpus = peer.Cpus ?? cpus;
        int cpuCount = cpus is null ? Environment.ProcessorCount : Cli.CpuPlan.List(cpus).Length;
        string[] command = [.. peer.CommandLine(files, new PeerLaunch(protocol, cpuCount, port)), .. extraArguments ?? []];
        ProcessBuild.RefuseUnoptimized(peer.Name, command);
        // Every .NET server gets the same GC mode (workstation, as epollserver ships), so they differ in I/O only.
        var variables = new Dictionary<string, string>(environment ?? new Dictionary<string, string>()) { ["DOTNET_gcServer"] = "0" };
        string[]? wrapper = Wrapper(cpus);
        var child = ChildProcess.Start(command, wrapper, variables, redirectInput: true);
        var peerProcess = new PeerProcess(peer, child);
        if (!(port == 0 ? child.WaitForListening(StartTimeout) : child.WaitForListeningOn(port, StartTimeout)))
        {
            string output = child.RecentOutput();
            peerProcess.Dispose();
            throw new InvalidOperationException($"{peer.Name} did not start listening within {StartTimeout.TotalSeconds:0} s: {output}");
        }
        peerProcess.Build = ProcessBuild.OfServer(peer.Name, child.Pid, [.. wrapper ?? [], .. command], command);
        return peerProcess;
    }

    public string RecentOutput() => _child.RecentOutput();

    // A line of the server's output matching `pattern` (the admin endpoint's, say), or null at the deadline.
    public string? WaitForLine(System.Text.RegularExpressions.Regex pattern, TimeSpan timeout) => _child.WaitForLine(pattern, timeout);

    public bool HasExited => _child.HasExited;

    // Refuses an unoptimised build of `peer` before any load runs (the C and NativeAOT builds are made on first
    // use by this call, as they would be by the first start); nginx is a Debian package and needs no check.
    public static void RefuseUnoptimized(Peer peer, PeerFiles files, string protocol)
    {
        if (!peer.ReportsItsPort)
            return;
        string[] command;
        try
        {
            command = peer.CommandLine(files, new PeerLaunch(protocol, 1, 0));
        }
        catch (Exception e) when (e is InvalidOperationException or FileNotFoundException)
        {
            return;   // cannot be started at all: the round that tries says why, as before
        }
        ProcessBuild.RefuseUnoptimized(peer.Name, command);
    }

    private static string[]? Wrapper(string? cpus) => cpus is not null && TasksetAvailable ? ["taskset", "-c", cpus] : null;

    // SIGTERM and wait; the exit code (or null after a forced kill) goes into the report. Companions are stopped
    // after the peer, the second daemon before its Redis; a companion's failure shows as the peer's (null).
    public int? Stop()
    {
        int? exit = _child.Stop(StopTimeout);
        foreach (ChildProcess companion in _companions)
        {
            if (companion.Stop(StopTimeout) != 0)
                exit = null;
        }
        return exit;
    }

    private static readonly bool TasksetAvailable =
        Environment.GetEnvironmentVariable("PATH")?.Split(':').Any(d => File.Exists(Path.Combine(d, "taskset"))) == true;

    public void Dispose()
    {
        _child.Dispose();
        foreach (ChildProcess companion in _companions)
            companion.Dispose();
    }
}
