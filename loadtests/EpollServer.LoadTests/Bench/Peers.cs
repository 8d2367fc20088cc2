// The servers a run can target: EpollServer itself (epoll or poll) and the peers a user would otherwise reach for,
// each started as a child process on a free loopback port and pinned to the server's CPUs. Every peer follows one
// contract: `PROGRAM PORT`, print "listening on 127.0.0.1:PORT", echo, exit 0 on SIGTERM.
namespace EpollServer.LoadTests.Bench;

internal sealed record Peer(string Name, string Description, bool ServesEveryProtocol, Func<PeerFiles, int, string, string[]> CommandLine)
{
    // In `bench` when --servers is not given; a variant measured on purpose (busy-poll) is named instead.
    public bool InDefaultBench { get; init; } = true;

    public bool Serves(string protocol) => ServesEveryProtocol || protocol == "echo";
}

internal static class Peers
{
    public const string EpollServer = "epollserver";

    // Limits meant for hostile peers would cap the scenarios (10,000 idle connections from one address), so the
    // benchmark turns them off; everything else is the daemon's default.
    private static string[] EpollServerArguments(PeerFiles files, int port, string protocol, string poller, int busyPollMicroseconds = 0,
        string? dll = null) =>
    [
        files.Dotnet, dll ?? PeerFiles.Managed("epollserver.dll"), "--address", "127.0.0.1", "--port", port.ToString(),
        "--protocol", protocol, "--poller", poller, "--max-connections", "0", "--max-connections-per-address", "0",
        "--idle-timeout", "0", "--first-byte-timeout", "0", "--request-timeout", "0", "--busy-poll", busyPollMicroseconds.ToString(),
    ];

    public static readonly IReadOnlyList<Peer> All =
    [
        new(EpollServer, "EpollServer, one reactor on epoll", true, (f, port, protocol) => EpollServerArguments(f, port, protocol, "epoll")),
        new("epollserver-poll", "EpollServer, one reactor on poll(2)", true, (f, port, protocol) => EpollServerArguments(f, port, protocol, "poll")),
        new("epollserver-busy-poll", "EpollServer on epoll, polling 200 µs after each event before it sleeps (--busy-poll 200)", true,
            (f, port, protocol) => EpollServerArguments(f, port, protocol, "epoll", busyPollMicroseconds: 200)) { InDefaultBench = false },
        // Another build of EpollServer (an earlier commit's `dotnet publish src/EpollServer.Host -o DIR`), for measuring a
        // change against what came before in one interleaved run: EPOLLSERVER_BASELINE=DIR.
        new("epollserver-baseline", "EpollServer, the build in $EPOLLSERVER_BASELINE (before a change)", true,
            (f, port, protocol) => EpollServerArguments(f, port, protocol, "epoll", dll: PeerFiles.Baseline())) { InDefaultBench = false },
        new("sockets", "System.Net.Sockets async echo (loadtests/peers/SocketsEcho)", false,
            (f, port, _) => [f.Dotnet, PeerFiles.Managed("sockets-echo.dll"), port.ToString()]),
        new("kestrel", "Kestrel ConnectionHandler echo (loadtests/peers/KestrelEcho)", false,
            (f, port, _) => [f.Dotnet, PeerFiles.Managed("kestrel-echo.dll"), port.ToString()]),
        new("c-epoll", "C single-threaded epoll echo (native-notes/echo-reference)", false,
            (f, port, _) => [f.Native("echo_epoll"), port.ToString()]),
        new("c-threads", "C thread-per-connection echo (native-notes/echo-reference)", false,
            (f, port, _) => [f.Native("echo_threads"), port.ToString()]),
        new("c-blocking", "C iterative blocking echo, one client at a time (native-notes/echo-reference)", false,
            (f, port, _) => [f.Native("echo_blocking"), port.ToString()]),
    ];

    public static Peer Find(string name) =>
        All.FirstOrDefault(p => p.Name == name)
        ?? throw new ArgumentException($"unknown server '{name}'; known: {string.Join(", ", All.Select(p => p.Name))}");
}

// Where the peers' programs are: the managed ones beside this program (project references), the C ones built from
// native-notes/echo-reference with its build.sh on first use.
internal sealed class PeerFiles
{
    private readonly Lazy<string> _nativeDirectory;

    public PeerFiles()
    {
        Dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
            : Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path
            : "dotnet";
        _nativeDirectory = new Lazy<string>(BuildNative);
    }

    public string Dotnet { get; }

    public static string Managed(string dll) => Path.Combine(AppContext.BaseDirectory, dll);

    public static string Baseline() =>
        Environment.GetEnvironmentVariable("EPOLLSERVER_BASELINE") is { Length: > 0 } directory && File.Exists(Path.Combine(directory, "epollserver.dll"))
            ? Path.Combine(directory, "epollserver.dll")
            : throw new InvalidOperationException("epollserver-baseline needs EPOLLSERVER_BASELINE=DIR, a folder holding an epollserver.dll build");

    public string Native(string program) => Path.Combine(_nativeDirectory.Value, program);

    private static string BuildNative()
    {
        string script = FindUpwards(Path.Combine("native-notes", "echo-reference", "build.sh"))
            ?? throw new FileNotFoundException("native-notes/echo-reference/build.sh not found above " + AppContext.BaseDirectory);
        string output = Path.Combine(AppContext.BaseDirectory, "native");
        using var build = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("bash", [script, output])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        string errors = build.StandardError.ReadToEnd();
        build.StandardOutput.ReadToEnd();
        if (!build.WaitForExit(120_000) || build.ExitCode != 0)
            throw new InvalidOperationException($"building the C references failed (is gcc installed?): {errors.Trim()}");
        return output;
    }

    public static string? FindUpwards(string relative)
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
                return candidate;
        }
        string fromCwd = Path.GetFullPath(relative);
        return File.Exists(fromCwd) ? fromCwd : null;
    }
}
