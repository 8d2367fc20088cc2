// Entry point of the `epollserver` command: serve (the default), `client`, `ping`, `health` or `stats`; parses and
// runs what it names. Serving also reads its options from EPOLLSERVER_* variables (EnvironmentOptions).
using System.CommandLine;
using EpollServer.Host;
using EpollServer.Host.Clients;

RootCommand root = ServeCommand.Create();
root.Subcommands.Add(ClientCommand.Create());
root.Subcommands.Add(PingCommand.Create());
root.Subcommands.Add(HealthCommand.Create());
root.Subcommands.Add(StatsCommand.Create());

bool serving = args.Length == 0 || !root.Subcommands.Any(c => c.Name == args[0]);
List<EnvironmentSetting> fromEnvironment = [];
if (serving)
{
    fromEnvironment = EnvironmentOptions.Read(root, args, out List<string> unknown);
    foreach (string variable in unknown)
        Console.Error.WriteLine($"epollserver: warning: {variable} is set but names no option; ignored");
    ServeCommand.FromEnvironment = fromEnvironment;
}
ParseResult parsed = root.Parse([.. fromEnvironment.Select(s => s.Token), .. args]);
if (parsed.Errors.Count > 0)
{
    // Usage errors exit 2, as the shells and most daemons do (System.CommandLine would return 1).
    foreach (var error in parsed.Errors)
        Console.Error.WriteLine($"epollserver: {error.Message}");
    ServeCommand.PrintEnvironmentOrigin(fromEnvironment);
    Console.Error.WriteLine("Try 'epollserver --help'.");
    return 2;
}
// System.CommandLine would register its own SIGTERM handling; ServeCommand does that itself.
return parsed.Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null });
