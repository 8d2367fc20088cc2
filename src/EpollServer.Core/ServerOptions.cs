// Everything a server can be told at start-up, with the defaults the daemon uses; Validate says what is wrong.
using System.Net;
using System.Numerics;

namespace EpollServer;

public sealed class ServerOptions
{
    public const int DefaultPort = 7007;

    // "::" with dual-stack serves IPv4 and IPv6 on one socket; "0.0.0.0" is IPv4 only.
    public string Address { get; set; } = "::";

    public int Port { get; set; } = DefaultPort;

    // How long an outgoing connection (a proxy's upstream) may take to be established, name lookup included.
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    // Linux caps this at net.core.somaxconn (4096 on current kernels); 511 is what Redis and nginx ask for.
    public int Backlog { get; set; } = 511;

    // Per-connection rings, powers of two. 16 KiB in covers a typical request in one recv; 64 KiB out lets one send
    // fill a loopback socket buffer's worth before EAGAIN.
    public int InputBufferSize { get; set; } = 16 * 1024;

    public int OutputBufferSize { get; set; } = 64 * 1024;

    // Over this many open connections a new peer gets a one-line refusal and is closed. 0: no limit but fds.
    public int MaxConnections { get; set; } = 10_000;

    // Over this many open connections from one IP address a new one is refused the same way. 0: no limit. Enough
    // for a NAT gateway full of users, too few for one host to take the whole --max-connections.
    public int MaxConnectionsPerAddress { get; set; } = 1024;

    // A connection with no byte in either direction for this long is closed. Zero: never.
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    // For protocols where the client speaks first: a connection that has sent nothing this long after connecting
    // is closed (a port scanner, or a peer that opens connections to hold them). Zero: never.
    public TimeSpan FirstByteTimeout { get; set; } = TimeSpan.FromSeconds(10);

    // How long a request may stay incomplete (a line without its LF) while the server waits for the rest: the
    // slowloris defence, since a peer dripping one byte at a time never looks idle. Zero: never.
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    // Bounded so that a connection storm cannot starve established connections of the loop (Redis takes 10 to 1000).
    public int MaxAcceptsPerWake { get; set; } = 64;

    // epoll_wait's batch; a full batch is followed by a zero-timeout wait, so this bounds latency, not throughput.
    public int EventBatchSize { get; set; } = 1024;

    // How long the loop keeps polling without sleeping after its last event (zero: off). A chatty peer's next
    // request is then found by a zero-timeout wait instead of a wake-up from a sleeping epoll_wait, which is what
    // the thread pool's spinning buys Kestrel and socket-async servers on one connection; it costs CPU while it spins.
    public TimeSpan BusyPoll { get; set; } = TimeSpan.Zero;

    public bool NoDelay { get; set; } = true;

    // The readiness backend: "auto" (epoll on Linux, kqueue on macOS and FreeBSD), "epoll", "kqueue" (libkqueue on
    // Linux), or "poll" (poll(2): portable, O(fds) per wait).
    public string Poller { get; set; } = "auto";

    // What "auto" means on this platform; the named backend otherwise.
    public string ResolvedPoller => Poller != "auto" ? Poller
        : OperatingSystem.IsLinux() ? "epoll"
        : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? "kqueue"
        : "poll";

    // How long a graceful stop waits for connections to flush what they owe before closing them anyway.
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    // After the server's FIN, how long it keeps reading (and dropping) input while waiting for the peer's FIN.
    public TimeSpan LingerTimeout { get; set; } = TimeSpan.FromSeconds(2);

    // How long the listener rests after running out of fds, as nginx does (its default is 500 ms).
    public TimeSpan AcceptBackoff { get; set; } = TimeSpan.FromMilliseconds(100);

    // Also serve UDP echo on the same address and port.
    public bool UdpEcho { get; set; }

    // The longest datagram echoed; a longer one is counted as truncated and not sent back. 65535 covers any UDP
    // payload over IPv4 (65507) or IPv6 without jumbograms (65527).
    public int UdpBufferSize { get; set; } = 65535;

    // Sent to every peer on connect, before the protocol speaks (the kqueue lesson's "Hello"); a LF is added
    // when the text does not end with one. Null or empty: nothing is sent.
    public string? Greeting { get; set; }

    // Idle ring storage kept for reuse; beyond it, drained buffers go back to the GC.
    public int MaxPooledBuffers { get; set; } = 1024;

    // Peers' protocol errors are logged at most this many times per window (then one line with the count left out).
    internal int PeerErrorLogBurst { get; set; } = 10;

    internal TimeSpan PeerErrorLogWindow { get; set; } = TimeSpan.FromSeconds(10);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!IPAddress.TryParse(Address, out _))
            errors.Add($"--address '{Address}' is not an IPv4 or IPv6 address (e.g. 0.0.0.0, ::, 127.0.0.1, ::1)");
        if (Port is < 0 or > 65535)
            errors.Add($"--port {Port} is outside 0..65535 (0 picks a free port)");
        if (Backlog < 1)
            errors.Add($"--backlog {Backlog} must be at least 1");
        CheckBuffer(errors, "--input-buffer", InputBufferSize);
        CheckBuffer(errors, "--output-buffer", OutputBufferSize);
        if (MaxConnections < 0)
            errors.Add($"--max-connections {MaxConnections} must be 0 (no limit) or more");
        if (MaxConnectionsPerAddress < 0)
            errors.Add($"--max-connections-per-address {MaxConnectionsPerAddress} must be 0 (no limit) or more");
        CheckTimeout(errors, "--idle-timeout", IdleTimeout);
        CheckTimeout(errors, "--first-byte-timeout", FirstByteTimeout);
        CheckTimeout(errors, "--request-timeout", RequestTimeout);
        if (MaxAcceptsPerWake < 1)
            errors.Add($"--max-accepts-per-wake {MaxAcceptsPerWake} must be at least 1");
        if (BusyPoll < TimeSpan.Zero || BusyPoll > TimeSpan.FromSeconds(1))
            errors.Add($"--busy-poll {BusyPoll.TotalMicroseconds} must be within 0..1000000 microseconds");
        if (EventBatchSize is < 1 or > 65536)
            errors.Add($"event batch size {EventBatchSize} must be within 1..65536");
        if (Greeting is not null && System.Text.Encoding.UTF8.GetByteCount(Greeting) + 1 > OutputBufferSize / 4)
            errors.Add($"--greeting is longer than a quarter of the output buffer ({OutputBufferSize / 4} bytes)");
        if (UdpBufferSize is < 1 or > 65535)
            errors.Add($"--udp-buffer {UdpBufferSize} must be within 1..65535 bytes");
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            errors.Add($"EpollServer runs on Linux and macOS (its syscall numbers and structs are known there); not on {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
        if (Poller is not ("auto" or "epoll" or "kqueue" or "poll"))
            errors.Add($"--poller '{Poller}' is not known; choose auto, epoll, kqueue or poll");
        else if (Poller == "epoll" && !OperatingSystem.IsLinux())
            errors.Add("--poller epoll: epoll is Linux's; choose kqueue or poll here");
        else if (ResolvedPoller == "kqueue" && Reactor.KqueuePoller.Unavailable is { } why)
            errors.Add($"--poller kqueue: {why}");
        if (ShutdownTimeout < TimeSpan.Zero)
            errors.Add("--shutdown-timeout must not be negative");
        return errors;
    }

    private static void CheckTimeout(List<string> errors, string name, TimeSpan timeout)
    {
        if (timeout < TimeSpan.Zero || timeout > TimeSpan.FromDays(7))
            errors.Add($"{name} {timeout.TotalSeconds} must be within 0 (off) and 604800 seconds");
    }

    private static void CheckBuffer(List<string> errors, string name, int size)
    {
        if (size is < 256 or > 64 * 1024 * 1024 || !BitOperations.IsPow2(size))
            errors.Add($"{name} {size} must be a power of two between 256 and 67108864 bytes");
    }
}
