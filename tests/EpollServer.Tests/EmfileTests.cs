// Running out of fds: the daemon under a small RLIMIT_NOFILE keeps serving the connections it has, closes the ones
// it cannot hold (spare-fd trick), and serves new ones again once fds free up.
using System.Text.RegularExpressions;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class EmfileTests
{
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void FdExhaustion_ExistingConnectionsKeepEchoing_NewOnesServedOnceFdsFreeUp(int reactors)
    {
        // Started with plenty of fds, so the connection cap set at start-up (fd limit minus what is in use minus a
        // reserve) does not protect; then the limit is lowered under it, as an operator's prlimit or a leak
        // elsewhere in the process would: to what it holds now plus room for a few dozen connections.
        using var daemon = DaemonProcess.Start($"--address 127.0.0.1 --port 0 --max-connections 0 --reactors {reactors}");
        DaemonFdReport.Request(daemon);   // load the stats path while fds are still plentiful
        int limit = LowerFdLimitAboveWhatIsOpen(daemon.Pid);

        var held = new List<TestClient>();
        bool refused = false;
        for (int i = 0; i < 200 && !refused; i++)
        {
            var client = TestClient.Connect(daemon.Port);
            if (client.EchoesProbe(Patterns.For(i, 32)))
            {
                held.Add(client);
            }
            else
            {
                refused = true;
                client.Dispose();
            }
        }
        Assert.True(refused, $"the daemon accepted {held.Count} connections under a {limit}-fd limit without refusing any");
        Assert.True(held.Count >= 10, $"only {held.Count} connections were served before fds ran out");
        daemon.WaitForLine(new Regex("out of file descriptors \\(EMFILE"));

        // Everyone already connected is still served, every byte.
        for (int i = 0; i < held.Count; i++)
            Assert.True(held[i].EchoesProbe(Patterns.For(1000 + i, 4096)), $"held connection {i} stopped echoing");

        // Free ten fds; within the back-off new peers are accepted and served again.
        held.Take(10).ToList().ForEach(c => c.Dispose());
        held.RemoveRange(0, 10);
        var fresh = new List<TestClient>();
        Wait.Until(() =>
        {
            var client = TestClient.Connect(daemon.Port);
            if (client.EchoesProbe(Patterns.For(5, 64)))
            {
                fresh.Add(client);
                return fresh.Count == 5;
            }
            client.Dispose();
            return false;
        }, "five new connections are served after fds were freed", 15_000);

        Assert.False(daemon.HasExited);
        held.Concat(fresh).ToList().ForEach(c => c.Dispose());
        daemon.Signal(DaemonProcess.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit());
    }

    // SIGTERM while the fd table is full: the runtime needs fds to create the thread that runs the signal handler
    // (a pipe each), and used to abort ("Out of memory.", exit 134). The fds reserved at start-up, given back at the
    // first EMFILE, let it stop gracefully.
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void SigtermWhileOutOfFds_StopsGracefully_ExitZero(int reactors)
    {
        using var daemon = DaemonProcess.Start($"--address 127.0.0.1 --port 0 --max-connections 0 --reactors {reactors}");
        DaemonFdReport.Request(daemon);
        LowerFdLimitAboveWhatIsOpen(daemon.Pid);
        var held = new List<TestClient>();
        for (int i = 0; i < 3 * Headroom; i++)
        {
            try
            {
                var client = TestClient.Connect(daemon.Port);
                client.Send([1]);
                held.Add(client);
            }
            catch (System.Net.Sockets.SocketException)
            {
            }
        }
        daemon.WaitForLine(new Regex("gave back the 16 fds reserved for the runtime"));
        daemon.Signal(DaemonProcess.SIGTERM);
        Assert.True(daemon.WaitForExit() == 0, daemon.Output);
        Assert.Contains(daemon.Lines, l => l.Contains("stopped: ", StringComparison.Ordinal));
        held.ForEach(c => c.Dispose());
    }

    // fds the lowered limit leaves above what the daemon holds: a few dozen connections, fewer than the loops try.
    private const int Headroom = 40;

    // The runtime's own fds differ by version and machine (its pipes, the loaded assemblies, the diagnostics), so
    // they are counted in /proc/PID/fd rather than assumed; the limit is that count plus the headroom.
    private static int LowerFdLimitAboveWhatIsOpen(int pid)
    {
        int limit = EpollServer.Diagnostics.ProcFd.Count(pid) + Headroom;
        LowerFdLimit(pid, limit);
        return limit;
    }

    private static void LowerFdLimit(int pid, int limit)
    {
        using var prlimit = System.Diagnostics.Process.Start("prlimit", $"--pid {pid} --nofile={limit}:{limit}")!;
        Assert.True(prlimit.WaitForExit(10_000) && prlimit.ExitCode == 0, "prlimit --pid failed (util-linux; .ci/run installs it)");
    }
}
