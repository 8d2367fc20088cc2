// The servers a run can target: EpollServer itself (its variants) and the peers a user would otherwise reach for,
// each started as a child process pinned to the server's CPUs and using all of them as its users run it
// (EpollServer a reactor per CPU, the C reference a loop per CPU, Kestrel and Sockets the thread pool). Every peer
// but nginx follows one contract: `PROGRAM 0` binds a loopback port the kernel chooses, prints "listening on
// 127.0.0.1:PORT" with it, serves, and exits 0 on SIGTERM. nginx cannot say which port it got, so it is given one
// (PeerProcess tries another when that one is taken).
namespace EpollServer.LoadTests.Bench;

// What a peer's command line is made from: the protocol, how many CPUs the server is given (the C reference's
// thread count), and the port when the peer is given one (0 for a peer that binds port 0 and reports it).
internal readonly record struct PeerLaunch(string Protocol, int CpuCount, int Port);

// Protocols: what the peer serves; null for every protocol EpollServer has.
internal sealed record Peer(string Name, string Description, IReadOnlyList<string>? Protocols, Func<PeerFiles, PeerLaunch, string[]> CommandLine)
{
    public static readonly IReadOnlyList<string> EchoOnly = ["echo"];
    public static readonly IReadOnlyList<string> HttpOnly = ["http"];
    public static readonly IReadOnlyList<string> ChatOnly = ["chat"];

    // False for a server that cannot bind port 0 and report it (nginx): PeerProcess gives it a port.
    public bool ReportsItsPort { get; init; } = true;

    // Chat across daemons: PeerProcess starts a redis-server, then this command twice with --backplane on it; the
    // sender talks to the first, the receivers to the second.
    public bool TwoOnRedis { get; init; }

    // In `bench` when --servers is not given; a variant measured on purpose (busy-poll) is named instead.
    public bool InDefaultBench { get; init; } = true;

    // The CPUs this server runs on (a taskset list) when not the bench's --server-cpus: the scaling suite's own.
    public string? Cpus { get; init; }

    public bool Serves(string protocol) => Protocols is null || Protocols.Contains(protocol);
}

internal static class Peers
{
    public const string EpollServer = "epollserver";

    // Limits meant for hostile peers would cap the scenarios (10,000 idle connections from one address), so the
    // benchmark turns them off; everything else is the daemon's default (a reactor per CPU of its mask, handoff).
    // The program is the JIT build (dotnet epollserver.dll, dynamic PGO) unless `program` names another.
    private static string[] EpollServerArguments(PeerFiles files, string protocol, string poller = "epoll", int busyPollMicroseconds = 0,
        string reactors = "auto", string accept = "handoff", string? dll = null, string? program = null) =>
    [
        .. program is null ? [files.Dotnet, dll ?? PeerFiles.Managed("epollserver.dll")] : new[] { program },
        "--address", "127.0.0.1", "--port", "0",
        "--protocol", protocol, "--poller", poller, "--max-connections", "0", "--max-connections-per-address", "0",
        "--idle-timeout", "0", "--first-byte-timeout", "0", "--request-timeout", "0", "--busy-poll", busyPollMicroseconds.ToString(),
        "--reactors", reactors, "--accept", accept,
    ];

    public static readonly IReadOnlyList<Peer> All =
    [
        new(EpollServer, "EpollServer on epoll, a reactor per server CPU, connections handed to the least loaded", null,
            (f, run) => EpollServerArguments(f, run.Protocol)),
        // The daemon as the container ships it: NativeAOT, published on first use (clang and zlib1g-dev needed).
        new("epollserver-aot", "EpollServer on epoll as a NativeAOT binary, a reactor per server CPU", null,
            (f, run) => EpollServerArguments(f, run.Protocol, program: f.NativeAot())) { InDefaultBench = false },
        new("epollserver-1", "EpollServer on epoll, one reactor (--reactors 1)", null,
            (f, run) => EpollServerArguments(f, run.Protocol, reactors: "1")) { InDefaultBench = false },
        new("epollserver-redis", "two EpollServer daemons, a reactor per server CPU each, sharing rooms through a redis-server " +
            "(--backplane): the chat sender on one, the receivers on the other; CPU, RSS and fds are the three processes'",
            Peer.ChatOnly, (f, run) => EpollServerArguments(f, run.Protocol)) { TwoOnRedis = true, InDefaultBench = false },
        new("epollserver-reuseport", "EpollServer on epoll, a reactor per server CPU, each with its own SO_REUSEPORT listener", null,
            (f, run) => EpollServerArguments(f, run.Protocol, accept: "reuseport")) { InDefaultBench = false },
        new("epollserver-poll", "EpollServer on poll(2), a reactor per server CPU", null, (f, run) => EpollServerArguments(f, run.Protocol, "poll")),
        new("epollserver-busy-poll", "EpollServer on epoll, polling 200 µs after each event before it sleeps (--busy-poll 200)", null,
            (f, run) => EpollServerArguments(f, run.Protocol, busyPollMicroseconds: 200)) { InDefaultBench = false },
        // Another build of EpollServer (an earlier commit's `dotnet publish src/EpollServer.Host -o DIR`), for measuring a
        // change against what came before in one interleaved run: EPOLLSERVER_BASELINE=DIR. Builds from before
        // --reactors existed refuse the option: EPOLLSERVER_BASELINE_ARGS=none leaves it out.
        new("epollserver-baseline", "EpollServer, the build in $EPOLLSERVER_BASELINE (before a change)", null,
            (f, run) => BaselineArguments(EpollServerArguments(f, run.Protocol, dll: PeerFiles.Baseline()))) { InDefaultBench = false },
        new("sockets", "System.Net.Sockets async echo on the thread pool (loadtests/peers/SocketsEcho)", Peer.EchoOnly,
            (f, _) => [f.Dotnet, PeerFiles.Managed("sockets-echo.dll"), "0"]),
        new("kestrel", "Kestrel ConnectionHandler echo (loadtests/peers/KestrelEcho)", Peer.EchoOnly,
            (f, _) => [f.Dotnet, PeerFiles.Managed("kestrel-echo.dll"), "0"]),
        // The HTTP peers (bench's wrk cases): what a user would run instead of `epollserver --protocol http`.
        new("nginx", "nginx-light, one worker process, access_log off, return 200 'Hello, World!' (Debian nginx-light)", Peer.HttpOnly,
            (f, run) => ["nginx", "-c", PeerFiles.NginxConfig(run.Port), "-e", "stderr"]) { ReportsItsPort = false },
        new("kestrel-http", "Kestrel minimal API, MapGet(\"/plaintext\") (loadtests/peers/KestrelHttp)", Peer.HttpOnly,
            (f, _) => [f.Dotnet, PeerFiles.Managed("kestrel-http.dll"), "0"]),
        new("c-epoll", "C epoll echo, an SO_REUSEPORT loop per server CPU (native-notes/echo-reference)", Peer.EchoOnly,
            (f, run) => [f.Native("echo_epoll"), "0", run.CpuCount.ToString()]),
        new("c-threads", "C thread-per-connection echo (native-notes/echo-reference)", Peer.EchoOnly,
            (f, _) => [f.Native("echo_threads"), "0"]),
        new("c-blocking", "C iterative blocking echo, one client at a time (native-notes/echo-reference)", Peer.EchoOnly,
            (f, _) => [f.Native("echo_blocking"), "0"]),
    ];

    // The scaling suite's servers: EpollServer with N reactors and the C reference with N loops, each on CPUs
    // 0..N-1, for N = 1, 2, 4, ... up to `maxCpus` (half the machine; the generator has the other half).
    public static IReadOnlyList<Peer> Scaling(int maxCpus)
    {
        var peers = new List<Peer>();
        for (int n = 1; n <= Math.Max(1, maxCpus); n *= 2)
        {
            int reactors = n;
            string cpus = reactors == 1 ? "0" : $"0-{reactors - 1}";
            peers.Add(new($"{EpollServer}-r{reactors}", $"EpollServer, {reactors} reactor(s) on CPU {cpus}", null,
                (f, run) => EpollServerArguments(f, run.Protocol, reactors: reactors.ToString())) { Cpus = cpus });
            peers.Add(new($"c-epoll-t{reactors}", $"C epoll echo, {reactors} SO_REUSEPORT loop(s) on CPU {cpus}", Peer.EchoOnly,
                (f, _) => [f.Native("echo_epoll"), "0", reactors.ToString()]) { Cpus = cpus });
        }
        return peers;
    }

    // N for a scaling server named epollserver-rN; 0 for any other.
    public static int ScaledReactors(string name) =>
        name.StartsWith(EpollServer + "-r", StringComparison.Ordinal) && int.TryParse(name.AsSpan(EpollServer.Length + 2), out int n) ? n : 0;

    private static string[] BaselineArguments(string[] arguments) =>
        Environment.GetEnvironmentVariable("EPOLLSERVER_BASELINE_ARGS") == "none" ? arguments[..^4] : arguments;

    public static Peer Find(string name) =>
        All.FirstOrDefault(p => p.Name == name)
        ?? throw new ArgumentException($"unknown server '{name}'; known: {string.Join(", ", All.Select(p => p.Name))}");
}

// Where the peers' programs are: the managed ones beside this program (project references), the C ones built from
// native-notes/echo-reference with its build.sh on first use.
internal sealed class PeerFiles
{
    private readonly Lazy<string> _nativeDirectory;

    private readonly Lazy<string> _nativeAot;

    public PeerFiles()
    {
        Dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
            : Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path
            : "dotnet";
        _nativeDirectory = new Lazy<string>(BuildNative);
        _nativeAot = new Lazy<string>(PublishNativeAot);
    }

    // The NativeAOT epollserver: $EPOLLSERVER_AOT when it names a binary, else published from this tree once.
    public string NativeAot() => _nativeAot.Value;

    public string Dotnet { get; }

    public static string Managed(string dll) => Path.Combine(AppContext.BaseDirectory, dll);

    public static string Baseline() =>
        Environment.GetEnvironmentVariable("EPOLLSERVER_BASELINE") is { Length: > 0 } directory && File.Exists(Path.Combine(directory, "epollserver.dll"))
            ? Path.Combine(directory, "epollserver.dll")
            : throw new InvalidOperationException("epollserver-baseline needs EPOLLSERVER_BASELINE=DIR, a folder holding an epollserver.dll build");

    public string Native(string program) => Path.Combine(_nativeDirectory.Value, program);

    // nginx as a benchmark peer: one process serving /plaintext from memory on 127.0.0.1:PORT (`master_process off`
    // makes the one process the worker; TechEmpower's nginx plaintext entry is configured the same way). Its
    // prefix (pid file, logs, temp paths) is a folder of its own under the temp directory.
    public static string NginxConfig(int port)
    {
        string prefix = Path.Combine(Path.GetTempPath(), $"epollserver-bench-nginx-{Environment.ProcessId}-{port}");
        Directory.CreateDirectory(prefix);
        string config = Path.Combine(prefix, "nginx.conf");
        File.WriteAllText(config, $$"""
            daemon off; master_process off; worker_processes 1; pid {{prefix}}/nginx.pid; error_log stderr warn;
            events { worker_connections 16384; }
            http {
                access_log off; server_tokens off; keepalive_requests 1000000;
                client_body_temp_path {{prefix}}; proxy_temp_path {{prefix}}; fastcgi_temp_path {{prefix}};
                uwsgi_temp_path {{prefix}}; scgi_temp_path {{prefix}};
                server {
                    listen 127.0.0.1:{{port}} backlog=4096;
                    location = /plaintext { default_type text/plain; return 200 'Hello, World!'; }
                }
            }
            """);
        return config;
    }

    private static string BuildNative()
    {
        string script = FindUpwards(Path.Combine("native-notes", "echo-reference", "build.sh"))
            ?? throw new FileNotFoundException("native-notes/echo-reference/build.sh not found above " + AppContext.BaseDirectory);
        string output = Path.Combine(AppContext.BaseDirectory, "native");
        RunToEnd("bash", [script, output], 120_000, "building the C references failed (is gcc installed?)");
        return output;
    }

    private string PublishNativeAot()
    {
        if (Environment.GetEnvironmentVariable("EPOLLSERVER_AOT") is { Length: > 0 } given)
            return File.Exists(given) ? given : throw new FileNotFoundException($"EPOLLSERVER_AOT names no file: {given}");
        string project = FindUpwards(Path.Combine("src", "EpollServer.Host", "EpollServer.Host.csproj"))
            ?? throw new FileNotFoundException("src/EpollServer.Host/EpollServer.Host.csproj not found above " + AppContext.BaseDirectory);
        string output = Path.Combine(AppContext.BaseDirectory, "aot");
        RunToEnd(Dotnet, ["publish", project, "-c", "Release", "-r", "linux-x64", "-p:PublishAot=true", "-o", output], 600_000,
            "publishing the NativeAOT epollserver failed (it needs clang and zlib1g-dev)");
        return Path.Combine(output, "epollserver");
    }

    private static void RunToEnd(string program, string[] arguments, int timeoutMs, string failure)
    {
        using var child = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(program, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        Task<string> output = child.StandardOutput.ReadToEndAsync();
        string errors = child.StandardError.ReadToEnd();
        if (!child.WaitForExit(timeoutMs) || child.ExitCode != 0)
            throw new InvalidOperationException($"{failure}: {errors.Trim()} {output.Result.Trim()}".Trim());
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
