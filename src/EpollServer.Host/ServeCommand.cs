// `epollserver [options]`: serve a protocol until SIGTERM/SIGINT, logging one line when listening.
using System.CommandLine;
using EpollServer.Diagnostics;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using Microsoft.Extensions.Logging;

namespace EpollServer.Host;

internal static class ServeCommand
{
    private static readonly Option<string> Address = new("--address") { Description = "IP address to listen on; :: is every IPv4 and IPv6 address (dual-stack)", DefaultValueFactory = _ => "::" };
    private static readonly Option<int> Port = new("--port", "-p") { Description = "TCP port; 0 picks a free one (the log line says which)", DefaultValueFactory = _ => ServerOptions.DefaultPort };
    private static readonly Option<string> Protocol = new("--protocol") { Description = "what to serve: echo, line, reverse, chat or proxy", DefaultValueFactory = _ => "echo" };
    private static readonly Option<string?> Upstream = new("--upstream") { Description = "for --protocol proxy: HOST:PORT every client is connected through to (a name is resolved for each client, off the loop)" };
    private static readonly Option<double> ConnectTimeout = new("--connect-timeout") { Description = "seconds an outgoing connection (the proxy's upstream) may take to be established, name lookup included", DefaultValueFactory = _ => 5 };
    private static readonly Option<int> MaxLine = new("--max-line") { Description = "longest line accepted by line, reverse and chat (bytes, without the LF); a longer one gets an error line and the connection is closed", DefaultValueFactory = _ => LineProtocolHandler.DefaultMaxLineLength };
    private static readonly Option<string?> Greeting = new("--greeting") { Description = "text sent to every client on connect (a LF is added)" };
    private static readonly Option<bool> Udp = new("--udp") { Description = "also serve UDP echo on the same port (each datagram sent back unchanged)" };
    private static readonly Option<int> UdpBuffer = new("--udp-buffer") { Description = "longest datagram echoed; longer ones are counted as truncated and not echoed", DefaultValueFactory = _ => 65535 };
    private static readonly Option<string> Poller = new("--poller") { Description = "readiness backend: auto (epoll on Linux, kqueue on macOS), epoll, kqueue (libkqueue on Linux) or poll", DefaultValueFactory = _ => "auto" };
    private static readonly Option<int> Backlog = new("--backlog") { Description = "listen(2) backlog", DefaultValueFactory = _ => 511 };
    private static readonly Option<int> InputBuffer = new("--input-buffer") { Description = "per-connection input ring in bytes (power of two)", DefaultValueFactory = _ => 16 * 1024 };
    private static readonly Option<int> OutputBuffer = new("--output-buffer") { Description = "per-connection output ring in bytes (power of two); reading pauses at 3/4 full", DefaultValueFactory = _ => 64 * 1024 };
    private static readonly Option<int> MaxConnections = new("--max-connections") { Description = "refuse (one line, then close) beyond this many open connections; 0 = no limit", DefaultValueFactory = _ => 10_000 };
    private static readonly Option<int> MaxPerAddress = new("--max-connections-per-address") { Description = "refuse (one line, then close) beyond this many open connections from one IP address; 0 = no limit", DefaultValueFactory = _ => 1024 };
    private static readonly Option<double> IdleTimeout = new("--idle-timeout") { Description = "seconds without a byte either way before a connection is closed; 0 = never", DefaultValueFactory = _ => 300 };
    private static readonly Option<double> FirstByteTimeout = new("--first-byte-timeout") { Description = "seconds a new connection may stay silent (echo, line, reverse); 0 = never", DefaultValueFactory = _ => 10 };
    private static readonly Option<double> RequestTimeout = new("--request-timeout") { Description = "seconds a request (a line) may stay incomplete; 0 = never", DefaultValueFactory = _ => 30 };
    private static readonly Option<int> MaxAccepts = new("--max-accepts-per-wake") { Description = "accepts per listener wake-up", DefaultValueFactory = _ => 64 };
    private static readonly Option<double> ShutdownTimeout = new("--shutdown-timeout") { Description = "seconds a graceful stop waits for connections to flush", DefaultValueFactory = _ => 5 };
    private static readonly Option<int> BusyPoll = new("--busy-poll") { Description = "microseconds the loop keeps polling without sleeping after its last event (0 = off): lower latency for a few chatty connections, paid in CPU", DefaultValueFactory = _ => 0 };
    private static readonly Option<double> StatsInterval = new("--stats-interval") { Description = "log a stats line every N seconds (0 = only on SIGUSR1 or `epollserver stats`)", DefaultValueFactory = _ => 0 };
    private static readonly Option<string> LogFormat = new("--log-format") { Description = "log lines on stdout as text or json (one JSON object per line)", DefaultValueFactory = _ => "text" };

    // The settings EPOLLSERVER_* variables supplied, named in error messages so a bad value is found where it was set.
    public static IReadOnlyList<EnvironmentSetting> FromEnvironment { get; set; } = [];

    public static RootCommand Create()
    {
        var root = new RootCommand("EpollServer: a TCP server on a raw-syscall epoll reactor. Every option can also be set " +
            "by an environment variable named after it (--max-line: EPOLLSERVER_MAX_LINE); the command line wins.")
        {
            Address, Port, Protocol, Upstream, ConnectTimeout, MaxLine, Greeting, Udp, UdpBuffer, Poller, Backlog, InputBuffer, OutputBuffer, MaxConnections, MaxPerAddress,
            IdleTimeout, FirstByteTimeout, RequestTimeout, MaxAccepts, ShutdownTimeout, BusyPoll, StatsInterval, LogFormat,
        };
        root.SetAction(Run);
        return root;
    }

    // Seconds as given, or an error that quotes them: TimeSpan cannot hold NaN or 1e300.
    private static TimeSpan Seconds(ParseResult parsed, Option<double> option, List<string> errors)
    {
        double seconds = parsed.GetValue(option);
        if (double.IsFinite(seconds) && seconds is >= 0 and <= 604_800)
            return TimeSpan.FromSeconds(seconds);
        errors.Add($"{option.Name} {seconds} must be within 0 and 604800 seconds");
        return TimeSpan.Zero;
    }

    private static int Run(ParseResult parsed)
    {
        var errors = new List<string>();
        ServerOptions options = new()
        {
            Address = parsed.GetValue(Address)!,
            Port = parsed.GetValue(Port),
            Backlog = parsed.GetValue(Backlog),
            InputBufferSize = parsed.GetValue(InputBuffer),
            OutputBufferSize = parsed.GetValue(OutputBuffer),
            MaxConnections = parsed.GetValue(MaxConnections),
            MaxConnectionsPerAddress = parsed.GetValue(MaxPerAddress),
            IdleTimeout = Seconds(parsed, IdleTimeout, errors),
            FirstByteTimeout = Seconds(parsed, FirstByteTimeout, errors),
            RequestTimeout = Seconds(parsed, RequestTimeout, errors),
            MaxAcceptsPerWake = parsed.GetValue(MaxAccepts),
            ShutdownTimeout = Seconds(parsed, ShutdownTimeout, errors),
            ConnectTimeout = Seconds(parsed, ConnectTimeout, errors),
            Greeting = parsed.GetValue(Greeting),
            UdpEcho = parsed.GetValue(Udp),
            Poller = parsed.GetValue(Poller)!,
            UdpBufferSize = parsed.GetValue(UdpBuffer),
            BusyPoll = TimeSpan.FromMicroseconds(parsed.GetValue(BusyPoll)),
        };
        errors.AddRange(options.Validate());
        double statsInterval = parsed.GetValue(StatsInterval);
        if (statsInterval < 0)
            errors.Add("--stats-interval must be 0 or more seconds");
        IProtocolHandler? handler = ProtocolCatalog.Create(parsed.GetValue(Protocol)!, parsed.GetValue(MaxLine), parsed.GetValue(Upstream), options, errors);
        string logFormat = parsed.GetValue(LogFormat)!;
        if (logFormat is not ("text" or "json"))
            errors.Add($"--log-format '{logFormat}' is not known; choose text or json");
        if (errors.Count > 0)
        {
            foreach (string error in errors)
                Console.Error.WriteLine($"epollserver: {error}");
            PrintEnvironmentOrigin(FromEnvironment);
            return 2;
        }
        using ILoggerFactory logging = Logging.CreateFactory(json: logFormat == "json");
        return Daemon.Run(options, handler!, statsInterval, logging.CreateLogger("epollserver"));
    }

    // After an error: which options came from the environment, since the message names only the option.
    public static void PrintEnvironmentOrigin(IReadOnlyList<EnvironmentSetting> settings)
    {
        foreach (EnvironmentSetting setting in settings)
            Console.Error.WriteLine($"epollserver: ({setting.Token.Split('=')[0]} was set by {setting.Variable}={setting.Value})");
    }
}

internal static class ProtocolCatalog
{
    public static readonly string[] Names = ["echo", "line", "reverse", "chat", "proxy"];

    public static IProtocolHandler? Create(string name, int maxLine, string? upstream, ServerOptions options, List<string> errors)
    {
        if (name == "proxy")
            return ParseUpstream(upstream, errors) is (string host, int port) ? new ProxyHandler(host, port) : null;
        if (upstream is not null)
            errors.Add($"--upstream is for --protocol proxy, not {name}");
        if (name != "echo" && !CheckMaxLine(maxLine, options, errors))
            return null;
        switch (name)
        {
            case "echo":
                return new EchoHandler();
            case "line":
                return new LineEchoHandler(maxLine);
            case "reverse":
                return new ReverseHandler(maxLine);
            case "chat":
                if (options.OutputBufferSize < ChatHandler.MinOutputBufferSize)
                    errors.Add($"--output-buffer must be at least {ChatHandler.MinOutputBufferSize} bytes for chat");
                return new ChatHandler(maxLine);
            default:
                errors.Add($"--protocol '{name}' is not known; choose one of: {string.Join(", ", Names)}");
                return null;
        }
    }

    // HOST:PORT, [IPv6]:PORT or IPv6-literal:PORT (the last colon separates the port).
    private static (string Host, int Port)? ParseUpstream(string? upstream, List<string> errors)
    {
        int colon = upstream?.LastIndexOf(':') ?? -1;
        if (upstream is null || colon <= 0 || !int.TryParse(upstream[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture, out int port)
            || port is < 1 or > 65535)
        {
            errors.Add($"--protocol proxy needs --upstream HOST:PORT (a port within 1..65535){(upstream is null ? "" : $"; got '{upstream}'")}");
            return null;
        }
        return (upstream[..colon].Trim('[', ']'), port);
    }

    // A whole line must fit in the input ring, and its answer below the output's high watermark, or a connection
    // holding one maximal line could neither read on nor answer.
    private static bool CheckMaxLine(int maxLine, ServerOptions options, List<string> errors)
    {
        int limit = Math.Min(options.InputBufferSize - 1, options.OutputBufferSize / 4 - 2);
        if (maxLine >= 1 && maxLine <= limit)
            return true;
        errors.Add($"--max-line {maxLine} must be within 1..{limit} (less than --input-buffer, at most a quarter of --output-buffer)");
        return false;
    }
}

internal static class Logging
{
    // One line per event on stdout with a UTC timestamp: grep-able, and scripts can wait for "listening on". JSON
    // lines are for log collectors (docker logs into Loki, Elasticsearch...): the same events, one object a line.
    public static ILoggerFactory CreateFactory(bool json) => LoggerFactory.Create(builder =>
    {
        builder.SetMinimumLevel(LogLevel.Information);
        if (json)
        {
            builder.AddJsonConsole(console =>
            {
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                // Relaxed escaping: a log line is not HTML, and "IPv4+IPv6" reads better than "IPv4\u002BIPv6".
                console.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            });
            return;
        }
        builder.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.UseUtcTimestamp = true;
            console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });
    });
}
