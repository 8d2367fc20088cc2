// One server under test as a child process: started on a free loopback port (pinned with taskset when asked),
// ready once it prints "listening on", stopped with SIGTERM and its exit code kept for the report.
using System.Diagnostics;
using System.Net;
using EpollServer.Interop;

namespace EpollServer.LoadTests.Bench;

internal sealed class PeerProcess : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly Process _process;
    private readonly Queue<string> _lastLines = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PeerProcess(Peer peer, Process process, int port)
    {
        Peer = peer;
        _process = process;
        Port = port;
    }

    public Peer Peer { get; }

    public int Port { get; }

    public int Pid => _process.Id;

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    public static PeerProcess Start(Peer peer, PeerFiles files, string protocol, string? cpus,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        int port = FreePort();
        cpus = peer.Cpus ?? cpus;
        int cpuCount = cpus is null ? Environment.ProcessorCount : Cli.CpuPlan.List(cpus).Length;
        string[] command = peer.CommandLine(files, port, protocol, cpuCount);
        var start = new ProcessStartInfo(cpus is not null && TasksetAvailable ? "taskset" : command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        if (cpus is not null && TasksetAvailable)
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(cpus);
            start.ArgumentList.Add(command[0]);
        }
        foreach (string argument in command.Skip(1))
            start.ArgumentList.Add(argument);
        // Every .NET server gets the same GC mode (workstation, as epollserver ships), so they differ in I/O only.
        start.Environment["DOTNET_gcServer"] = "0";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {peer.Name}");
        var peerProcess = new PeerProcess(peer, process, port);
        process.OutputDataReceived += (_, e) => peerProcess.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => peerProcess.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!peerProcess._listening.Task.Wait(StartTimeout) || process.HasExited)
        {
            string output = peerProcess.RecentOutput();
            peerProcess.Dispose();
            throw new InvalidOperationException($"{peer.Name} did not start listening within {StartTimeout.TotalSeconds:0} s: {output}");
        }
        return peerProcess;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            _listening.TrySetResult();   // exited: Start sees HasExited
            return;
        }
        lock (_lastLines)
        {
            _lastLines.Enqueue(line);
            if (_lastLines.Count > 20)
                _lastLines.Dequeue();
        }
        if (line.Contains("listening on", StringComparison.Ordinal))
            _listening.TrySetResult();
    }

    public string RecentOutput()
    {
        lock (_lastLines)
            return string.Join(" | ", _lastLines);
    }

    // SIGTERM and wait; the exit code (or null after a forced kill) goes into the report.
    public int? Stop()
    {
        if (_process.HasExited)
            return _process.ExitCode;
        Sys.Kill(_process.Id, Libc.SIGTERM);
        if (_process.WaitForExit(StopTimeout))
            return _process.ExitCode;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(StopTimeout);
        return null;
    }

    private static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static readonly bool TasksetAvailable =
        Environment.GetEnvironmentVariable("PATH")?.Split(':').Any(d => File.Exists(Path.Combine(d, "taskset"))) == true;

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(StopTimeout);
        }
        _process.Dispose();
    }
}
