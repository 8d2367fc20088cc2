// Everything a server can be told at start-up. The settings the daemon exposes are defined once, in Settings below
// (key, default, range, help), and the defaults here come from that table; the rest are the library's own knobs.
// Validate says what is wrong, naming settings by their property names.
using System.Net;
using static EpollServer.SettingChecks;

namespace EpollServer;

public sealed class ServerOptions
{
    public const int DefaultPort = 7007;

    public ServerOptions()
    {
        foreach (Setting<ServerOptions> setting in Settings)
            setting.Reset(this);
    }

    // The settings a deployment sets (the daemon's options and EPOLLSERVER_* variables), in the order --help lists them.
    public static readonly IReadOnlyList<Setting<ServerOptions>> Settings =
    [
        Text("address", nameof(Address), "::", o => o.Address, (o, v) => o.Address = v,
            "IP address to listen on; :: is every IPv4 and IPv6 address (dual-stack: one IPv6 socket with IPV6_V6ONLY off), " +
            "falling back to 0.0.0.0 where IPv6 is missing",
            v => IPAddress.TryParse(v, out _) ? null : "is not an IPv4 or IPv6 address (e.g. 0.0.0.0, ::, 127.0.0.1, ::1)"),
        Number("port", nameof(Port), DefaultPort, o => o.Port, (o, v) => o.Port = v, "TCP port; 0 lets the kernel pick one (the log line says which)",
            Within(0, 65535)),
        Text("reactors", nameof(Reactors), "auto", o => o.Reactors, (o, v) => o.Reactors = v,
            "reactor threads, each a loop that owns its connections: a number, or auto (one per CPU the process may run on: " +
            "its affinity mask, what taskset or a container's CPU set gives it)", CheckReactors),
        Text("accept", nameof(Accept), "handoff", o => o.Accept, (o, v) => o.Accept = v,
            "how connections reach the reactors: handoff (one listener; each accepted connection goes to the reactor with the " +
            "fewest) or reuseport (a SO_REUSEPORT listener per reactor; the kernel spreads them by a hash)",
            choices: ["handoff", "reuseport"]),
        Flag("pin-reactors", nameof(PinReactors), o => o.PinReactors, (o, v) => o.PinReactors = v,
            "pin reactor K to the K-th CPU the process may run on"),
        Text("poller", nameof(Poller), "auto", o => o.Poller, (o, v) => o.Poller = v,
            "readiness backend: auto (epoll on Linux, kqueue on macOS), epoll, kqueue (libkqueue on Linux) or poll (poll(2): portable, " +
            "O(registered fds) per wait)", choices: ["auto", "epoll", "kqueue", "poll"]),
        // Linux caps this at net.core.somaxconn (4096 on current kernels); 511 is what Redis and nginx ask for.
        Number("backlog", nameof(Backlog), 511, o => o.Backlog, (o, v) => o.Backlog = v, "listen(2) backlog (the kernel caps it at net.core.somaxconn)",
            AtLeast(1)),
        // 16 KiB in covers a typical request in one recv; 64 KiB out lets one send fill a loopback socket buffer's worth
        // before EAGAIN.
        Number("input-buffer", nameof(InputBufferSize), 16 * 1024, o => o.InputBufferSize, (o, v) => o.InputBufferSize = v,
            "per-connection input ring (a power of two)", PowerOfTwoBuffer, "bytes"),
        Number("output-buffer", nameof(OutputBufferSize), 64 * 1024, o => o.OutputBufferSize, (o, v) => o.OutputBufferSize = v,
            "per-connection output ring (a power of two); reading pauses when it holds 3/4 of it and resumes at 1/4", PowerOfTwoBuffer, "bytes"),
        Number("max-connections", nameof(MaxConnections), 10_000, o => o.MaxConnections, (o, v) => o.MaxConnections = v,
            "beyond this many open connections a new peer gets `ERR server is at its connection limit, try again later` and is closed " +
            "(0: no limit but fds); lowered at start-up to what the fd limit can hold", AtLeast(0)),
        // Enough for a NAT gateway full of users, too few for one host to take the whole --max-connections.
        Number("max-connections-per-address", nameof(MaxConnectionsPerAddress), 1024, o => o.MaxConnectionsPerAddress,
            (o, v) => o.MaxConnectionsPerAddress = v,
            "beyond this many open connections from one IP address a new one gets `ERR too many connections from your address` (0: no limit)",
            AtLeast(0)),
        // 300 s sits between Redis (never, by default) and nginx's keepalive_timeout of 75 s: chat members may sit quiet.
        Seconds("idle-timeout", nameof(IdleTimeout), 300, o => o.IdleTimeout, (o, v) => o.IdleTimeout = v,
            "a connection with no byte in either direction for this long is closed (0: never)"),
        // For protocols where the client speaks first: a peer that says nothing is a scanner or a slot holder.
        Seconds("first-byte-timeout", nameof(FirstByteTimeout), 10, o => o.FirstByteTimeout, (o, v) => o.FirstByteTimeout = v,
            "a new connection may stay silent this long, for protocols where the client speaks first (echo, line, reverse) (0: never)"),
        // The slowloris defence: a peer dripping one byte at a time never looks idle.
        Seconds("request-timeout", nameof(RequestTimeout), 30, o => o.RequestTimeout, (o, v) => o.RequestTimeout = v,
            "one request (a line without its LF; an HTTP request, head and body) may stay incomplete this long, however slowly it " +
            "grows; the time restarts when a request completes (0: never)"),
        Seconds("connect-timeout", nameof(ConnectTimeout), 5, o => o.ConnectTimeout, (o, v) => o.ConnectTimeout = v,
            "an outgoing connection (the proxy's upstream) may take this long to be established, name lookup included (0: no limit)"),
        // Bounded so that a connection storm cannot starve established connections of the loop (Redis takes 10 to 1000).
        Number("max-accepts-per-wake", nameof(MaxAcceptsPerWake), 64, o => o.MaxAcceptsPerWake, (o, v) => o.MaxAcceptsPerWake = v,
            "accepts per listener wake-up, so that a connection storm cannot starve established connections", AtLeast(1)),
        Seconds("shutdown-timeout", nameof(ShutdownTimeout), 5, o => o.ShutdownTimeout, (o, v) => o.ShutdownTimeout = v,
            "a graceful stop waits this long for connections to serve what they have read and flush what they owe"),
        // A chatty peer's next request is then found by a zero-timeout wait instead of a wake-up from a sleeping
        // epoll_wait, which is what the thread pool's spinning buys Kestrel on one connection; it costs CPU.
        Number("busy-poll", nameof(BusyPoll), 0, o => (int)Math.Min(int.MaxValue, o.BusyPoll.TotalMicroseconds),
            (o, v) => o.BusyPoll = TimeSpan.FromMicroseconds(v),
            "the loop keeps polling (zero-timeout waits) this long after its last event before it sleeps (0: off): fewer wake-ups for a " +
            "few chatty connections, paid in CPU", Within(0, 1_000_000, "microseconds"), "microseconds"),
        // nginx's large_client_header_buffers bound a head by bytes only; a count bounds the work per head as well.
        Number("max-header-fields", nameof(MaxHeaderFields), 100, o => o.MaxHeaderFields, (o, v) => o.MaxHeaderFields = v,
            "HTTP: a request head (or a chunked body's trailer section) with more field lines than this is refused with 431",
            Within(1, 10_000)),
        Flag("udp", nameof(Udp), o => o.Udp, (o, v) => o.Udp = v,
            "also serve the protocol's datagram form on the same port (UDP echo for echo; refused for a protocol that has none)"),
        // 65535 covers any UDP payload over IPv4 (65507) or IPv6 without jumbograms (65527).
        Number("udp-buffer", nameof(UdpBufferSize), 65535, o => o.UdpBufferSize, (o, v) => o.UdpBufferSize = v,
            "the longest datagram handled; a longer one is counted as truncated and not answered", Within(1, 65535, "bytes"), "bytes"),
    ];

    public string Address { get; set; } = null!;

    // "auto" or a number of reactors (ResolvedReactors says how many auto is here).
    public string Reactors { get; set; } = null!;

    // "handoff" or "reuseport".
    public string Accept { get; set; } = null!;

    public bool PinReactors { get; set; }

    public int Port { get; set; }

    // "auto" (epoll on Linux, kqueue on macOS and FreeBSD), "epoll", "kqueue" (libkqueue on Linux) or "poll".
    public string Poller { get; set; } = null!;

    public int Backlog { get; set; }

    public int InputBufferSize { get; set; }

    public int OutputBufferSize { get; set; }

    public int MaxConnections { get; set; }

    public int MaxConnectionsPerAddress { get; set; }

    public TimeSpan IdleTimeout { get; set; }

    public TimeSpan FirstByteTimeout { get; set; }

    public TimeSpan RequestTimeout { get; set; }

    public TimeSpan ConnectTimeout { get; set; }

    public int MaxAcceptsPerWake { get; set; }

    public TimeSpan ShutdownTimeout { get; set; }

    public TimeSpan BusyPoll { get; set; }

    public int MaxHeaderFields { get; set; }

    public bool Udp { get; set; }

    public int UdpBufferSize { get; set; }

    // The library's own knobs (no daemon option):

    // epoll_wait's batch; a full batch is followed by a zero-timeout wait, so this bounds latency, not throughput.
    public int EventBatchSize { get; set; } = 1024;

    public bool NoDelay { get; set; } = true;

    // After the server's FIN, how long it keeps reading (and dropping) input while waiting for the peer's FIN.
    public TimeSpan LingerTimeout { get; set; } = TimeSpan.FromSeconds(2);

    // How long the listener rests after running out of fds, as nginx does (its default is 500 ms).
    public TimeSpan AcceptBackoff { get; set; } = TimeSpan.FromMilliseconds(100);

    // Idle ring storage kept for reuse; beyond it, drained buffers go back to the GC.
    public int MaxPooledBuffers { get; set; } = 1024;

    // Peers' protocol errors are logged at most this many times per window (then one line with the count left out).
    internal int PeerErrorLogBurst { get; set; } = 10;

    internal TimeSpan PeerErrorLogWindow { get; set; } = TimeSpan.FromSeconds(10);

    // The reactors this server runs: one per CPU in the affinity mask for "auto".
    public int ResolvedReactors => Reactors == "auto" ? Interop.Sys.GetCpuAffinity().Length : int.Parse(Reactors, System.Globalization.CultureInfo.InvariantCulture);

    private static string? CheckReactors(string value) =>
        value == "auto" || (int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= 1024)
            ? null : "must be auto or a number within 1..1024";

    // What "auto" means on this platform; the named backend otherwise.
    public string ResolvedPoller => Poller != "auto" ? Poller
        : OperatingSystem.IsLinux() ? "epoll"
        : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? "kqueue"
        : "poll";

    // Every setting's own check, then what only the options together, or this platform, can say.
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach (Setting<ServerOptions> setting in Settings)
        {
            if (setting.Validate(this) is { } problem)
                errors.Add(problem);
        }
        if (EventBatchSize is < 1 or > 65536)
            errors.Add($"{nameof(EventBatchSize)} {EventBatchSize} must be within 1..65536");
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            errors.Add($"EpollServer runs on Linux and macOS (its syscall numbers and structs are known there); not on {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
        if (Poller == "epoll" && !OperatingSystem.IsLinux())
            errors.Add($"{nameof(Poller)} epoll: epoll is Linux's; choose kqueue or poll here");
        else if (ResolvedPoller == "kqueue" && Reactor.KqueuePoller.Unavailable is { } why)
            errors.Add($"{nameof(Poller)} kqueue: {why}");
        return errors;
    }

    private static Setting<ServerOptions, int> Number(string key, string property, int value, Func<ServerOptions, int> get,
        Action<ServerOptions, int> set, string help, Func<int, string?>? check = null, string? unit = null) =>
        new(key, property, value, get, set, help, check, unit);

    private static Setting<ServerOptions, string> Text(string key, string property, string value, Func<ServerOptions, string> get,
        Action<ServerOptions, string> set, string help, Func<string, string?>? check = null, IReadOnlyList<string>? choices = null) =>
        new(key, property, value, get, set, help, check, choices: choices);

    private static Setting<ServerOptions, bool> Flag(string key, string property, Func<ServerOptions, bool> get, Action<ServerOptions, bool> set,
        string help) => new(key, property, false, get, set, help);

    // A TimeSpan given in seconds.
    private static Setting<ServerOptions, double> Seconds(string key, string property, double value, Func<ServerOptions, TimeSpan> get,
        Action<ServerOptions, TimeSpan> set, string help) =>
        new(key, property, value, o => get(o).TotalSeconds, (o, v) => set(o, TimeSpan.FromSeconds(v)), help, SettingChecks.Seconds, "seconds");
}
