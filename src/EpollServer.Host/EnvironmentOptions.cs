// EPOLLSERVER_* environment variables as defaults for the serve options, so a container is configured the way
// containers are (`-e EPOLLSERVER_PROTOCOL=chat`). Each option gets its variable by name (--max-line is
// EPOLLSERVER_MAX_LINE), so a new option is configurable from the environment without a line here. A value from
// the environment becomes an ordinary `--option=value` token, checked by the same parser and validation as a typed
// one; the command line wins where both set an option.
using System.CommandLine;
using System.CommandLine.Help;

namespace EpollServer.Host;

internal sealed record EnvironmentSetting(string Variable, string Value, string Token);

internal static class EnvironmentOptions
{
    public const string Prefix = "EPOLLSERVER_";

    public static string VariableFor(Option option) => VariableFor(option.Name.TrimStart('-'));

    // "max-line" -> EPOLLSERVER_MAX_LINE.
    public static string VariableFor(string key) => Prefix + key.Replace('-', '_').ToUpperInvariant();

    // The options a variable can set: the command's own, less --help and --version.
    public static IEnumerable<Option> Configurable(Command command) =>
        command.Options.Where(o => o is not HelpOption and not VersionOption);

    // The tokens the environment adds in front of `args`, and the EPOLLSERVER_* variables that name no option (a
    // typo should be seen, but a deployment's unrelated variable must not stop the server: the caller warns).
    public static (List<EnvironmentSetting> Settings, List<string> Unknown) Read(Command command, IReadOnlyList<string> args,
        Func<string, string?> lookup, IEnumerable<string> allVariables)
    {
        var settings = new List<EnvironmentSetting>();
        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (Option option in Configurable(command))
        {
            string variable = VariableFor(option);
            known.Add(variable);
            string? value = lookup(variable);
            if (string.IsNullOrEmpty(value) || GivenOnCommandLine(option, args))
                continue;
            // `--greeting=-x` keeps a value that starts with a dash a value; a flag takes true/false the same way.
            settings.Add(new EnvironmentSetting(variable, value, $"{option.Name}={FlagValue(option, value)}"));
        }
        List<string> unknown = allVariables.Where(v => v.StartsWith(Prefix, StringComparison.Ordinal) && !known.Contains(v))
            .Order(StringComparer.Ordinal).ToList();
        return (settings, unknown);
    }

    public static List<EnvironmentSetting> Read(Command command, IReadOnlyList<string> args, out List<string> unknown)
    {
        var environment = Environment.GetEnvironmentVariables().Keys.Cast<string>();
        (List<EnvironmentSetting> settings, unknown) = Read(command, args, Environment.GetEnvironmentVariable, environment);
        return settings;
    }

    private static bool GivenOnCommandLine(Option option, IReadOnlyList<string> args)
    {
        foreach (string arg in args)
        {
            if (arg == "--")
                return false;
            string name = arg.Split('=', ':')[0];
            if (name == option.Name || option.Aliases.Contains(name))
                return true;
        }
        return false;
    }

    // Shells and compose files spell booleans in many ways; the parser knows only true and false.
    private static string FlagValue(Option option, string value)
    {
        if (option.ValueType != typeof(bool))
            return value;
        return value.Trim().ToUpperInvariant() switch
        {
            "1" or "YES" or "ON" or "TRUE" => "true",
            "0" or "NO" or "OFF" or "FALSE" => "false",
            _ => value,   // the parser refuses it, and the error names the variable
        };
    }
}
