// The real `epollserver` daemon as a child process: started with arguments (optionally under prlimit), its
// stdout collected line by line, signals sent with kill(2), its exit awaited with a timeout.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace EpollServer.Tests.Infrastructure;

public sealed partial class DaemonProcess : IDisposable
{
    public const int SIGTERM = 15;
    public const int SIGUSR1 = 10;

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private DaemonProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue("stderr: " + e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public StreamWriter StandardInput => _process.StandardInput;

    public int Port { get; private set; }

    public IReadOnlyCollection<string> Lines => _lines;

    public string Output => string.Join('\n', _lines);

    public static string DaemonDll => Path.Combine(AppContext.BaseDirectory, "epollserver.dll");

    // Starts the daemon and, unless expectListening is false, waits for its "listening on" line.
    // redirectInput: the test writes the command's stdin (StandardInput), as `client` reads it.
    // environment: EPOLLSERVER_* variables for the child; any the test runner itself has are removed, so a
    // developer's shell cannot change what a test sees.
    public static DaemonProcess Start(string arguments, int? fdLimit = null, bool expectListening = true, bool redirectInput = false,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo
        {
            FileName = fdLimit is null ? "dotnet" : "prlimit",
            Arguments = fdLimit is null ? $"\"{DaemonDll}\" {arguments}" : $"--nofile={fdLimit}:{fdLimit} dotnet \"{DaemonDll}\" {arguments}",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
        };
        // Tiered compilation's background thread and the diagnostics socket are not what these tests count.
        start.Environment["DOTNET_EnableDiagnostics"] = "0";
        foreach (string inherited in start.Environment.Keys.Where(k => k.StartsWith("EPOLLSERVER_", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(inherited);
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        var daemon = new DaemonProcess(Process.Start(start)!);
        if (expectListening)
        {
            string line = daemon.WaitForLine(ListeningLine(), 20_000);
            daemon.Port = int.Parse(ListeningLine().Match(line).Groups[1].Value);
        }
        return daemon;
    }

    [GeneratedRegex(@"listening on \S+:(\d+)")]
    private static partial Regex ListeningLine();

    public string WaitForLine(string exact, int timeoutMs = 10_000) =>
        WaitForLine(new Regex("^" + Regex.Escape(exact) + "$"), timeoutMs);

    public string WaitForLine(Regex pattern, int timeoutMs = 10_000, int skip = 0)
    {
        string? found = null;
        Wait.Until(() => (found = _lines.Where(l => pattern.IsMatch(l)).Skip(skip).FirstOrDefault()) is not null,
            $"the daemon printed a line matching /{pattern}/; it printed:\n{Output}", timeoutMs);
        return found!;
    }

    public void Signal(int signal) => Assert.Equal(0, kill(Pid, signal));

    public int WaitForExit(int timeoutMs = 20_000)
    {
        Assert.True(_process.WaitForExit(timeoutMs), $"the daemon did not exit within {timeoutMs} ms; it printed:\n{Output}");
        _process.WaitForExit();   // drains the redirected output
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(5_000);
        }
        _process.Dispose();
    }

    [DllImport("libc.so.6", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
