// Entry point of the `epollserver` command: serve (the default), `client` or `ping`; parses and runs what it names.
using System.CommandLine;
using EpollServer.Host;
using EpollServer.Host.Clients;

RootCommand root = ServeCommand.Create();
root.Subcommands.Add(ClientCommand.Create());
root.Subcommands.Add(PingCommand.Create());
ParseResult parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // Usage errors exit 2, as the shells and most daemons do (System.CommandLine would return 1).
    foreach (var error in parsed.Errors)
        Console.Error.WriteLine($"epollserver: {error.Message}");
    Console.Error.WriteLine("Try 'epollserver --help'.");
    return 2;
}
// System.CommandLine would register its own SIGTERM handling; ServeCommand does that itself.
return parsed.Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null });
