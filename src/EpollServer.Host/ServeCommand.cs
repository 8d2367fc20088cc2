// `epollserver [options]`: serve a protocol until SIGTERM/SIGINT, logging one line when listening. The options are
// made from the settings tables (ServerOptions.Settings and DaemonSettings.Settings): name, type, default, choices,
// help and validation each come from their row, so an option is added in one place.
using System.CommandLine;
using EpollServer.Protocols;
using Microsoft.Extensions.Logging;

namespace EpollServer.Host;

internal static class ServeCommand
{
    // Short forms, which no table needs to know about.
    private static readonly Dictionary<string, string> Aliases = new() { ["port"] = "-p" };

    // The settings EPOLLSERVER_* variables supplied, named in error messages so a bad value is found where it was set.
    public static IReadOnlyList<EnvironmentSetting> FromEnvironment { get; set; } = [];

    // Every setting of both tables, in the order --help and the README list them.
    public static IEnumerable<Setting> AllSettings => [.. DaemonSettings.Settings.Take(2), .. ServerOptions.Settings, .. DaemonSettings.Settings.Skip(2)];

    public static RootCommand Create()
    {
        var root = new RootCommand("EpollServer: a TCP server on a raw-syscall epoll reactor. Every option can also be set " +
            "by an environment variable named after it (--max-line: EPOLLSERVER_MAX_LINE); the command line wins.");
        var options = new Dictionary<Setting, Option>();
        foreach (Setting setting in AllSettings)
            root.Options.Add(options[setting] = OptionFor(setting));
        root.SetAction(parsed => Run(parsed, options));
        return root;
    }

    // The README's table of options, made from the same rows (a test keeps the README's copy equal to this).
    public static string MarkdownTable()
    {
        var table = new System.Text.StringBuilder("| option | variable | default | meaning |\n| --- | --- | --- | --- |\n");
        foreach (Setting setting in AllSettings)
        {
            string shown = setting.DefaultText is { Length: > 0 } d ? $"`{d}`" : "";
            string help = setting.Unit is null ? setting.Help : $"{setting.Help} ({setting.Unit})";
            table.Append($"| `--{setting.Key}` | `{EnvironmentOptions.VariableFor(setting.Key)}` | {shown} | {help} |\n");
        }
        return table.ToString();
    }

    // "--key": described by the row's help and unit, defaulted, limited to its choices, and checked by the row.
    public static Option OptionFor(Setting setting) => setting.ValueType switch
    {
        Type t when t == typeof(int) => Make<int>(setting),
        Type t when t == typeof(double) => Make<double>(setting),
        Type t when t == typeof(bool) => Make<bool>(setting),
        _ => Make<string?>(setting),
    };

    private static Option<T> Make<T>(Setting setting)
    {
        string[] aliases = Aliases.TryGetValue(setting.Key, out string? alias) ? [alias] : [];
        var option = new Option<T>("--" + setting.Key, aliases)
        {
            Description = setting.Unit is null ? setting.Help : $"{setting.Help} ({setting.Unit})",
            DefaultValueFactory = _ => (T)setting.Default!,
        };
        if (setting.Choices is { } choices)
            option.AcceptOnlyFromAmong([.. choices]);
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && !TryConvert(result, out T? value))
                return;   // not a T at all: the parser says so itself
            value = result.GetValueOrDefault<T>();
            if (setting.Check(value) is { } problem)
                result.AddError($"{option.Name} {Setting.Show(value)} {problem}");
        });
        return option;
    }

    private static bool TryConvert<T>(System.CommandLine.Parsing.OptionResult result, out T? value)
    {
        try
        {
            value = result.GetValueOrDefault<T>();
            return true;
        }
        catch (InvalidOperationException)
        {
            value = default;
            return false;
        }
    }

    private static int Run(ParseResult parsed, Dictionary<Setting, Option> byRow)
    {
        var options = new ServerOptions();
        var daemon = new DaemonSettings();
        foreach ((Setting setting, Option option) in byRow)
        {
            object? value = parsed.GetResult(option) is { } result ? result.GetValueOrDefault<object?>() : setting.Default;
            if (setting is Setting<ServerOptions> server)
                server.Apply(options, value);
            else
                ((Setting<DaemonSettings>)setting).Apply(daemon, value);
        }
        var errors = new List<string>();
        errors.AddRange(options.Validate().Select(ToFlagTerms));
        using ILoggerFactory logging = Logging.CreateFactory(json: daemon.LogFormat == "json");
        using var resources = new DaemonResources(logging);   // closed after the server has stopped
        // The settings are checked here, once; the server then calls the factory for each reactor's handler.
        Func<IProtocolHandler>? handlers = ProtocolCatalog.Create(daemon, options, errors, resources);
        if (errors.Count > 0)
        {
            foreach (string error in errors)
                Console.Error.WriteLine($"epollserver: {error}");
            PrintEnvironmentOrigin(FromEnvironment);
            return 2;
        }
        return Daemon.Run(options, handlers!, daemon, logging.CreateLogger("epollserver"));
    }

    // The library says "Poller kqueue: ..."; the daemon's user knows it as --poller.
    private static string ToFlagTerms(string error)
    {
        foreach (Setting setting in ServerOptions.Settings)
        {
            if (error.StartsWith(setting.Property + " ", StringComparison.Ordinal))
                return "--" + setting.Key + error[setting.Property.Length..];
        }
        return error;
    }

    // After an error: which options came from the environment, since the message names only the option.
    public static void PrintEnvironmentOrigin(IReadOnlyList<EnvironmentSetting> settings)
    {
        foreach (EnvironmentSetting setting in settings)
            Console.Error.WriteLine($"epollserver: ({setting.Token.Split('=')[0]} was set by {setting.Variable}={Printable(setting)})");
    }

    // A secret (the backplane's key, a Redis URL's password) is never printed.
    private static string Printable(EnvironmentSetting setting) => setting.Variable switch
    {
        "EPOLLSERVER_BACKPLANE_KEY" => "***",
        "EPOLLSERVER_BACKPLANE" => Backplane.Redis.RedisEndpoint.Redacted(setting.Value),
        _ => setting.Value,
    };
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
