// The real `epollserver` daemon as a child process, on the harness the bench's peers use (ChildProcess): started
// with arguments (optionally under prlimit), on port 0 unless told otherwise, its output collected line by line,
// signals sent with kill(2), its exit awaited with a timeout; every wait fails the test with what the daemon printed.
using System.Text.RegularExpressions;
using EpollServer.LoadTests.Bench;

namespace EpollServer.Tests.Infrastructure;

public sealed class DaemonProcess : IDisposable
{
    public const int SIGTERM = 15;
    public const int SIGUSR1 = 10;

    private readonly ChildProcess _child;

    private DaemonProcess(ChildProcess child) => _child = child;

    public int Pid => _child.Pid;

    public StreamWriter StandardInput => _child.StandardInput;

    public int Port => _child.Port;

    public IReadOnlyCollection<string> Lines => _child.Lines;

    public string Output => _child.Output;

    public static string DaemonDll => Path.Combine(AppContext.BaseDirectory, "epollserver.dll");

    // Starts the daemon and, unless expectListening is false, waits for its "listening on" line.
    // redirectInput: the test writes the command's stdin (StandardInput), as `client` reads it.
    // environment: variables for the child; EPOLLSERVER_* ones the test runner itself has are removed, so a
    // developer's shell cannot change what a test sees.
    public static DaemonProcess Start(string arguments, int? fdLimit = null, bool expectListening = true, bool redirectInput = false,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        // Tiered compilation's background thread and the diagnostics socket are not what these tests count.
        var variables = new Dictionary<string, string>(environment ?? new Dictionary<string, string>()) { ["DOTNET_EnableDiagnostics"] = "0" };
        string[] command = ["dotnet", DaemonDll, .. SplitArguments(arguments)];
        var daemon = new DaemonProcess(ChildProcess.Start(command, fdLimit is null ? null : ["prlimit", $"--nofile={fdLimit}:{fdLimit}"],
            variables, removing: "EPOLLSERVER_", redirectInput));
        if (expectListening)
            Assert.True(daemon._child.WaitForListening(TimeSpan.FromSeconds(20)), $"the daemon did not print its listening line; it printed:\n{daemon.Output}");
        return daemon;
    }

    public string WaitForLine(string exact, int timeoutMs = 10_000) =>
        WaitForLine(new Regex("^" + Regex.Escape(exact) + "$"), timeoutMs);

    public string WaitForLine(Regex pattern, int timeoutMs = 10_000, int skip = 0) =>
        _child.WaitForLine(pattern, TimeSpan.FromMilliseconds(timeoutMs), skip)
        ?? throw new Xunit.Sdk.XunitException($"the daemon printed no line matching /{pattern}/ in {timeoutMs} ms; it printed:\n{Output}");

    public void Signal(int signal) => Assert.Equal(0, _child.Signal(signal));

    public int WaitForExit(int timeoutMs = 20_000)
    {
        Assert.True(_child.WaitForExit(TimeSpan.FromMilliseconds(timeoutMs)), $"the daemon did not exit within {timeoutMs} ms; it printed:\n{Output}");
        return _child.ExitCode;
    }

    public bool HasExited => _child.HasExited;

    public void Dispose() => _child.Dispose();

    // The tests write arguments as one string, as on a command line: split at spaces, with "..." keeping one together.
    private static IEnumerable<string> SplitArguments(string arguments) =>
        Regex.Matches(arguments, "\"([^\"]*)\"|(\\S+)").Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value);
}
