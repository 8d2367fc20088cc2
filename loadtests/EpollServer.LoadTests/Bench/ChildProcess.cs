// A server (or any command) as a child process, for the bench's peers and for the tests' daemons alike: started
// under an optional wrapper (taskset, prlimit), its stdout and stderr collected line by line ("stderr: " marks the
// latter), waited on for a line with a deadline, signalled with kill(2), stopped with SIGTERM and its exit code kept.
// A server is started on port 0 and reports the port it bound in its "listening on HOST:PORT" line, so no port is
// ever picked by binding and releasing it first (another process could take it in between).
using System.Diagnostics;
using System.Text.RegularExpressions;
using EpollServer.Interop;

namespace EpollServer.LoadTests.Bench;

internal sealed partial class ChildProcess : IDisposable
{
    // A long run's log is not kept whole: the newest lines are what a failure report and a wait need.
    private const int KeptLines = 10_000;

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private bool _outputEnded;

    private ChildProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => OnLine(e.Data, "");
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data, "stderr: ");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    // The port from the "listening on" line, once WaitForListening has seen it.
    public int Port { get; private set; }

    public StreamWriter StandardInput => _process.StandardInput;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
                return [.. _lines];
        }
    }

    public string Output => string.Join('\n', Lines);

    // `command` runs under `wrapper` when one is given (["taskset", "-c", "0"], say); `environment` sets variables
    // and `removing` drops those with the given prefix that this process would otherwise pass on.
    public static ChildProcess Start(IReadOnlyList<string> command, IReadOnlyList<string>? wrapper = null,
        IReadOnlyDictionary<string, string>? environment = null, string? removing = null, bool redirectInput = false)
    {
        string[] full = [.. wrapper ?? [], .. command];
        var start = new ProcessStartInfo(full[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
        };
        foreach (string argument in full.Skip(1))
            start.ArgumentList.Add(argument);
        if (removing is not null)
        {
            foreach (string inherited in start.Environment.Keys.Where(k => k.StartsWith(removing, StringComparison.Ordinal)).ToList())
                start.Environment.Remove(inherited);
        }
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        return new ChildProcess(Process.Start(start) ?? throw new InvalidOperationException($"could not start {full[0]}"));
    }

    // Waits for the "listening on HOST:PORT" line and takes the port from it; false if the child exited first or
    // the deadline passed.
    public bool WaitForListening(TimeSpan timeout)
    {
        if (WaitForLine(ListeningLine(), timeout) is not { } line)
            return false;
        Port = int.Parse(ListeningLine().Match(line).Groups[1].Value);
        return true;
    }

    // For a server that must be given its port (nginx, Redis): ports are tried until `start` succeeds on one
    // (`start` returns null when another program holds it); `what` names the server in the error.
    public static (T Started, int Port) OnSomeFreePort<T>(Func<int, T?> start, Func<string> what) where T : class
    {
        const int Attempts = 10;
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            int port = Random.Shared.Next(20_000, 60_000);
            if (start(port) is { } started)
                return (started, port);
        }
        throw new InvalidOperationException($"{what()} did not start on any of {Attempts} ports");
    }

    // For a server given its port (nginx): waits until the kernel lists a listening TCP socket on `port` that this
    // process holds (/proc/net/tcp's inode among /proc/PID/fd), so another program that happens to hold the port
    // is never taken for it; false if the child exited first or the deadline passed.
    public bool WaitForListeningOn(int port, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (!_process.HasExited && Environment.TickCount64 < deadline)
        {
            if (HoldsListener(Pid, port))
            {
                Port = port;
                return true;
            }
            Thread.Sleep(20);
        }
        return false;
    }

    private static bool HoldsListener(int pid, int port)
    {
        try
        {
            return Diagnostics.ProcFd.HoldsListener(pid, port);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;   // exited while we looked
        }
    }

    // The `skip`+1-th line matching `pattern`, or null when the deadline passes or the output ends without one.
    public string? WaitForLine(Regex pattern, TimeSpan timeout, int skip = 0)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_lines)
        {
            while (true)
            {
                string? found = _lines.Where(l => pattern.IsMatch(l)).Skip(skip).FirstOrDefault();
                long left = deadline - Environment.TickCount64;
                if (found is not null || _outputEnded || left <= 0)
                    return found;
                Monitor.Wait(_lines, TimeSpan.FromMilliseconds(left));
            }
        }
    }

    public string RecentOutput(int lines = 20) => string.Join(" | ", Lines.TakeLast(lines));

    public int Signal(int signal) => Sys.Kill(Pid, signal).Ok ? 0 : -1;

    // True once the child has exited and its output has been read to the end.
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
            return false;
        _process.WaitForExit();   // drains the redirected output
        return true;
    }

    // SIGTERM and wait; the exit code, or null when it had to be killed.
    public int? Stop(TimeSpan timeout)
    {
        if (!_process.HasExited)
            Signal(Libc.SIGTERM);
        if (WaitForExit(timeout))
            return _process.ExitCode;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(timeout);
        return null;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5_000);
        }
        _process.Dispose();
    }

    private void OnLine(string? line, string prefix)
    {
        lock (_lines)
        {
            if (line is null)
                _outputEnded |= prefix.Length == 0;   // stdout closed: nothing more will match
            else
                _lines.Add(prefix + line);
            if (_lines.Count > KeptLines)
                _lines.RemoveRange(0, _lines.Count - KeptLines);
            Monitor.PulseAll(_lines);
        }
    }

    [GeneratedRegex(@"listening on \S+:(\d+)")]
    private static partial Regex ListeningLine();
}
