// What the daemon is told beyond ServerOptions: the protocol and its parameters, the greeting, stats and logs. Rows in
// the same shape as ServerOptions.Settings, so that both tables become the command line, the EPOLLSERVER_* variables
// and the README's table in one way (ServeCommand).
using static EpollServer.SettingChecks;

namespace EpollServer.Host;

internal sealed class DaemonSettings
{
    public DaemonSettings()
    {
        foreach (Setting<DaemonSettings> setting in Settings)
            setting.Reset(this);
    }

    public static readonly IReadOnlyList<Setting<DaemonSettings>> Settings =
    [
        new Setting<DaemonSettings, string>("protocol", nameof(Protocol), "echo", d => d.Protocol, (d, v) => d.Protocol = v,
            "what to serve: " + string.Join("; ", ProtocolCatalog.All.Select(p => $"{p.Name}, {p.Description}")),
            choices: [.. ProtocolCatalog.All.Select(p => p.Name)]),
        new Setting<DaemonSettings, string?>("upstream", nameof(Upstream), null, d => d.Upstream, (d, v) => d.Upstream = v,
            "for --protocol proxy: HOST:PORT every client is connected through to (a name is resolved for each client, off the loop)"),
        new Setting<DaemonSettings, bool>("proxy-client-first", nameof(ProxyClientFirst), false, d => d.ProxyClientFirst,
            (d, v) => d.ProxyClientFirst = v,
            "for --protocol proxy: the upstream waits for the client to speak first (HTTP, Redis; not SMTP or SSH, which greet), so a " +
            "client that says nothing is closed by --first-byte-timeout"),
        new Setting<DaemonSettings, string?>("backplane", nameof(Backplane), null, d => d.Backplane, (d, v) => d.Backplane = v,
            "for --protocol chat: redis://HOST[:PORT][/DB] shares rooms, nicknames and /who with every server on the same Redis " +
            "(one channel per room; chat here goes on while Redis is away); rediss:// is TLS, and USER:PASSWORD@ before HOST " +
            "logs in as an ACL user (the password is never printed)"),
        new Setting<DaemonSettings, int>("backplane-ttl", nameof(BackplaneTtl), 15, d => d.BackplaneTtl, (d, v) => d.BackplaneTtl = v,
            "how long a server's nicknames and memberships outlive it in Redis when it dies without leaving (it refreshes them " +
            "every third of this while alive)", Within(2, 3600), "seconds"),
        new Setting<DaemonSettings, string?>("backplane-key", nameof(BackplaneKey), null, d => d.BackplaneKey, (d, v) => d.BackplaneKey = v,
            "for --backplane: a shared secret (at least 16 characters; the same on every server) with which each server signs " +
            "what it publishes (HMAC-SHA256), and drops what does not verify or is replayed; without it anyone who can " +
            "publish to the Redis can write lines to the rooms. Prefer the variable: the command line is visible to every user"),
        new Setting<DaemonSettings, string?>("backplane-ca-file", nameof(BackplaneCaFile), null, d => d.BackplaneCaFile,
            (d, v) => d.BackplaneCaFile = v,
            "for --backplane rediss://...: a PEM file of the CA that Redis's certificate must chain to (instead of the system's " +
            "roots); its name is still checked"),
        new Setting<DaemonSettings, int>("max-line", nameof(MaxLine), Protocols.LineProtocolHandler.DefaultMaxLineLength, d => d.MaxLine,
            (d, v) => d.MaxLine = v,
            "longest line (bytes, without its LF) that line, reverse and chat accept; a longer one gets `ERR line longer than N bytes; " +
            "closing` and the connection is closed once that line is delivered. Less than --input-buffer, at most a quarter of " +
            "--output-buffer", AtLeast(1), "bytes"),
        new Setting<DaemonSettings, string?>("greeting", nameof(Greeting), null, d => d.Greeting, (d, v) => d.Greeting = v,
            "text sent to every client on connect, before the protocol says anything (a LF is added); at most a quarter of " +
            "--output-buffer"),
        new Setting<DaemonSettings, double>("stats-interval", nameof(StatsInterval), 0, d => d.StatsInterval, (d, v) => d.StatsInterval = v,
            "log a stats line every N seconds (0: only on SIGUSR1 or `epollserver stats`)", Seconds, "seconds"),
        new Setting<DaemonSettings, int>("admin-port", nameof(AdminPort), 0, d => d.AdminPort, (d, v) => d.AdminPort = v,
            "serve the admin endpoint (HTTP: GET /healthz, /readyz, /metrics in Prometheus's format, /stats) on this port, on a " +
            "reactor of its own; 0: none", Within(0, 65535)),
        new Setting<DaemonSettings, string>("admin-address", nameof(AdminAddress), "127.0.0.1", d => d.AdminAddress,
            (d, v) => d.AdminAddress = v, "the address the admin endpoint listens on (it tells anyone who can reach it how the server is doing)"),
        new Setting<DaemonSettings, string>("log-format", nameof(LogFormat), "text", d => d.LogFormat, (d, v) => d.LogFormat = v,
            "text: one line per event; json: one JSON object per line (Timestamp, LogLevel, Message, the event's fields under State)",
            choices: ["text", "json"]),
    ];

    public string Protocol { get; set; } = null!;

    public string? Upstream { get; set; }

    public bool ProxyClientFirst { get; set; }

    public string? Backplane { get; set; }

    public int BackplaneTtl { get; set; }

    public string? BackplaneKey { get; set; }

    public string? BackplaneCaFile { get; set; }

    public int MaxLine { get; set; }

    public string? Greeting { get; set; }

    public double StatsInterval { get; set; }

    public int AdminPort { get; set; }

    public string AdminAddress { get; set; } = null!;

    public string LogFormat { get; set; } = null!;
}
