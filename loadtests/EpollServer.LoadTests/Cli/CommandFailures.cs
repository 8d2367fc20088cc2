// What stops a command, said the same way by run, bench and soak: an unoptimised build is refused (exit 2, the line
// naming it and how to build it), a server that would not start or answer fails the run (exit 1).
using EpollServer.LoadTests.Bench;

namespace EpollServer.LoadTests.Cli;

internal static class CommandFailures
{
    public static int Run(Func<int> command)
    {
        try
        {
            return command();
        }
        catch (UnoptimizedBuildException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            Console.Error.WriteLine($"epollserver-load: {e.Message}");
            return 1;
        }
    }
}
