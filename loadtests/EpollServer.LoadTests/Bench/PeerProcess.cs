// One server under test as a child process: started on port 0 (pinned with taskset when asked), ready once it prints
// "listening on" with the port it bound, stopped with SIGTERM and its exit code kept for the report.
using System.Net;

namespace EpollServer.LoadTests.Bench;

internal sealed class PeerProcess : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly ChildProcess _child;

    private PeerProcess(Peer peer, ChildProcess child)
    {
        Peer = peer;
        _child = child;
    }

    public Peer Peer { get; }

    public int Port => _child.Port;

    public int Pid => _child.Pid;

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    public static PeerProcess Start(Peer peer, PeerFiles files, string protocol, string? cpus,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        if (peer.ReportsItsPort)
            return StartOn(peer, files, protocol, cpus, environment, 0);
        // A peer given its port: one that another program holds makes it exit at once, and the next is tried.
        string failures = "";
        for (int attempt = 0; attempt < GivenPortAttempts; attempt++)
        {
            try
            {
                return StartOn(peer, files, protocol, cpus, environment, Random.Shared.Next(20_000, 60_000));
            }
            catch (InvalidOperationException e)
            {
                failures = e.Message;
            }
        }
        throw new InvalidOperationException($"{peer.Name} did not start on any of {GivenPortAttempts} ports; last: {failures}");
    }

    private const int GivenPortAttempts = 10;

    internal static PeerProcess StartOn(Peer peer, PeerFiles files, string protocol, string? cpus,
        IReadOnlyDictionary<string, string>? environment, int port)
    {
        cpus = peer.Cpus ?? cpus;
        int cpuCount = cpus is null ? Environment.ProcessorCount : Cli.CpuPlan.List(cpus).Length;
        string[] command = peer.CommandLine(files, new PeerLaunch(protocol, cpuCount, port));
        // Every .NET server gets the same GC mode (workstation, as epollserver ships), so they differ in I/O only.
        var variables = new Dictionary<string, string>(environment ?? new Dictionary<string, string>()) { ["DOTNET_gcServer"] = "0" };
        var child = ChildProcess.Start(command, cpus is not null && TasksetAvailable ? ["taskset", "-c", cpus] : null, variables, redirectInput: true);
        var peerProcess = new PeerProcess(peer, child);
        if (!(port == 0 ? child.WaitForListening(StartTimeout) : child.WaitForListeningOn(port, StartTimeout)))
        {
            string output = child.RecentOutput();
            peerProcess.Dispose();
            throw new InvalidOperationException($"{peer.Name} did not start listening within {StartTimeout.TotalSeconds:0} s: {output}");
        }
        return peerProcess;
    }

    public string RecentOutput() => _child.RecentOutput();

    // SIGTERM and wait; the exit code (or null after a forced kill) goes into the report.
    public int? Stop() => _child.Stop(StopTimeout);

    private static readonly bool TasksetAvailable =
        Environment.GetEnvironmentVariable("PATH")?.Split(':').Any(d => File.Exists(Path.Combine(d, "taskset"))) == true;

    public void Dispose() => _child.Dispose();
}
