// Entry point of the `epollserver` command: parses the command line and runs what it names.
using System.CommandLine;
using EpollServer.Host;

RootCommand root = ServeCommand.Create();
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
