// The protocols the daemon serves, one row each: its name, what it is, how its handlers are made from the settings
// (with the checks only it needs; one handler per reactor), and the question `epollserver health` asks it. serve,
// health and --help all read this list; whether a protocol has a datagram form (--udp) is its handler's to say
// (IProtocolHandler.Datagrams).
using System.Security.Cryptography;
using System.Text;
using EpollServer.Backplane.Redis;
using EpollServer.Host.Clients;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using Microsoft.Extensions.Logging;

namespace EpollServer.Host;

internal sealed record ProtocolEntry(string Name, string Description,
    Func<DaemonSettings, ServerOptions, List<string>, DaemonResources, Func<IProtocolHandler>?> Create, Func<HealthProbe>? Probe);

// What a protocol's handlers may need from the daemon beyond its settings: its logs, and a place for what must be
// closed once the server has stopped (chat's backplane).
internal sealed class DaemonResources(ILoggerFactory logging) : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    public ILoggerFactory Logging { get; } = logging;

    public T Own<T>(T resource) where T : IDisposable
    {
        lock (_owned)
            _owned.Add(resource);
        return resource;
    }

    public void Dispose()
    {
        lock (_owned)
        {
            foreach (IDisposable resource in Enumerable.Reverse(_owned))
                resource.Dispose();
            _owned.Clear();
        }
    }
}

internal static class ProtocolCatalog
{
    public static readonly IReadOnlyList<ProtocolEntry> All =
    [
        new("echo", "every byte back, in order", (_, _, _, _) => () => new EchoHandler(), () => LineProbe(reverse: false)),
        new("line", "readline framing: each line back as sent",
            (d, o, e, _) => CheckMaxLine(d, o, e) ? () => new LineEchoHandler(d.MaxLine) : null, () => LineProbe(reverse: false)),
        new("reverse", "each line back reversed by grapheme cluster (strict UTF-8)",
            (d, o, e, _) => CheckMaxLine(d, o, e) ? () => new ReverseHandler(d.MaxLine) : null, () => LineProbe(reverse: true)),
        new("chat", "rooms of nc/telnet users: lines to everyone else in the room, /nick /who /me /join /quit /help", CreateChat,
            // Chat greets every newcomer before it reads a line; the greeting is the answer (which is also why its room
            // sees a health check come and go).
            () => new HealthProbe([], Encoding.UTF8.GetBytes(ChatHandler.WelcomePrefix))),
        new("proxy", "every byte both ways between each client and its own connection to --upstream", CreateProxy,
            Probe: null),
        new("http", "HTTP/1.1, the benchmark protocol: GET /plaintext and /json (TechEmpower's rules), keep-alive, pipelining",
            CreateHttp, () => new HealthProbe("GET /plaintext HTTP/1.1\r\nHost: health\r\n\r\n"u8.ToArray(), "\r\n\r\nHello, World!"u8.ToArray())),
    ];

    public static ProtocolEntry? Find(string name) => All.FirstOrDefault(p => p.Name == name);

    // What makes each reactor's handler for the settings, wrapped in the greeting when there is one; null with the
    // reasons in `errors`.
    public static Func<IProtocolHandler>? Create(DaemonSettings daemon, ServerOptions options, List<string> errors, DaemonResources resources)
    {
        if (Find(daemon.Protocol) is not { } protocol)
        {
            errors.Add($"--protocol '{daemon.Protocol}' is not known; choose {string.Join(", ", All.Select(p => p.Name))}");
            return null;
        }
        if (daemon.Upstream is not null && protocol.Name != "proxy")
            errors.Add($"--upstream is for --protocol proxy, not {protocol.Name}");
        if (daemon.ProxyClientFirst && protocol.Name != "proxy")
            errors.Add($"--proxy-client-first is for --protocol proxy, not {protocol.Name}");
        if (daemon.Backplane is not null && protocol.Name != "chat")
            errors.Add($"--backplane is for --protocol chat, not {protocol.Name}");
        Func<IProtocolHandler>? handlers = protocol.Create(daemon, options, errors, resources);
        if (handlers is null)
            return null;
        if (options.Udp && handlers().Datagrams is null)
            errors.Add($"--udp: the {protocol.Name} protocol has no datagram form (echo has: UDP echo)");
        if (string.IsNullOrEmpty(daemon.Greeting))
            return handlers;
        if (Encoding.UTF8.GetByteCount(daemon.Greeting) + 1 > options.OutputBufferSize / 4)
            errors.Add($"--greeting is longer than a quarter of the output buffer ({options.OutputBufferSize / 4} bytes)");
        string greeting = daemon.Greeting;
        return () => new GreetingHandler(greeting, handlers());
    }

    // A whole line must fit in the input ring, and its answer below the output's high watermark, or a connection
    // holding one maximal line could neither read on nor answer.
    private static bool CheckMaxLine(DaemonSettings daemon, ServerOptions options, List<string> errors)
    {
        int limit = Math.Min(options.InputBufferSize - 1, options.OutputBufferSize / 4 - 2);
        if (daemon.MaxLine >= 1 && daemon.MaxLine <= limit)
            return true;
        errors.Add($"--max-line {daemon.MaxLine} must be within 1..{limit} (less than --input-buffer, at most a quarter of --output-buffer)");
        return false;
    }

    // A whole request head must fit in the input ring with room to spare.
    private static Func<IProtocolHandler>? CreateHttp(DaemonSettings daemon, ServerOptions options, List<string> errors, DaemonResources _)
    {
        if (options.InputBufferSize >= Protocols.Http.HttpHandler.MinInputBufferSize)
            return () => new Protocols.Http.BenchmarkHttpHandler();
        errors.Add($"--input-buffer must be at least {Protocols.Http.HttpHandler.MinInputBufferSize} bytes for http (a request head may be 8 KiB)");
        return null;
    }

    // Every reactor's chat handler shares one directory of nicknames and rooms. With --backplane, the directory (and
    // the backplane's connection to Redis) is made when the server makes its first handler, after every check.
    private static Func<IProtocolHandler>? CreateChat(DaemonSettings daemon, ServerOptions options, List<string> errors, DaemonResources resources)
    {
        if (!CheckMaxLine(daemon, options, errors))
            return null;
        if (options.OutputBufferSize < ChatHandler.MinOutputBufferSize)
        {
            errors.Add($"--output-buffer must be at least {ChatHandler.MinOutputBufferSize} bytes for chat");
            return null;
        }
        if (daemon.Backplane is null && (daemon.BackplaneKey ?? daemon.BackplaneCaFile) is not null)
        {
            errors.Add("--backplane-key and --backplane-ca-file are for --backplane");
            return null;
        }
        if (daemon.Backplane is null)
            return ChatHandler.Factory(daemon.MaxLine);
        RedisEndpoint endpoint;
        try
        {
            endpoint = RedisEndpoint.Parse(daemon.Backplane);
        }
        catch (FormatException e)
        {
            errors.Add($"--backplane {e.Message}");
            return null;
        }
        if (daemon.BackplaneCaFile is { } caFile && (!endpoint.Tls || !File.Exists(caFile)))
        {
            errors.Add(endpoint.Tls ? $"--backplane-ca-file {caFile} does not exist" : "--backplane-ca-file is for rediss:// (TLS) only");
            return null;
        }
        endpoint = endpoint with { CaFile = daemon.BackplaneCaFile };
        if (daemon.BackplaneKey is { Length: < 16 })
        {
            errors.Add("--backplane-key must be at least 16 characters");   // checked here, so that no message shows it
            return null;
        }
        byte[]? key = daemon.BackplaneKey is { } secret ? System.Text.Encoding.UTF8.GetBytes(secret) : null;
        var directory = new Lazy<ChatDirectory>(() => new ChatDirectory(resources.Own(new RedisChatBackplane(endpoint,
            resources.Logging.CreateLogger("epollserver"), TimeSpan.FromSeconds(daemon.BackplaneTtl), key: key))));
        return () => new ChatHandler(directory.Value, daemon.MaxLine);
    }

    // HOST:PORT, [IPv6]:PORT or IPv6-literal:PORT (the last colon separates the port).
    private static Func<IProtocolHandler>? CreateProxy(DaemonSettings daemon, ServerOptions options, List<string> errors, DaemonResources _)
    {
        string? upstream = daemon.Upstream;
        int colon = upstream?.LastIndexOf(':') ?? -1;
        if (upstream is null || colon <= 0 || !int.TryParse(upstream[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture, out int port)
            || port is < 1 or > 65535)
        {
            errors.Add($"--protocol proxy needs --upstream HOST:PORT (a port within 1..65535){(upstream is null ? "" : $"; got '{upstream}'")}");
            return null;
        }
        string host = upstream[..colon].Trim('[', ']');
        bool clientFirst = daemon.ProxyClientFirst;
        return () => new ProxyHandler(host, port, clientFirst);
    }

    // A fresh token each time: an answer left over from anything else cannot pass for this one.
    private static HealthProbe LineProbe(bool reverse)
    {
        string token = "health-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        string answer = reverse ? new string(token.Reverse().ToArray()) : token;
        return new HealthProbe(Encoding.ASCII.GetBytes(token + "\n"), Encoding.ASCII.GetBytes(answer + "\n"));
    }
}
