// One reactor per core: how connections are dealt out (handoff to the least loaded; one SO_REUSEPORT listener each),
// and the reactors' threads as the OS shows them (named for top -H, pinned with --pin-reactors).
using EpollServer.Diagnostics;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class ReactorTests
{
    // Handoff deals each accepted connection to the reactor holding the fewest: 300 connections on three reactors
    // land within 10% of 100 each (exactly 100, connections arriving one after another), and every one is served.
    [Fact]
    public void Handoff_300Connections_SpreadWithinTenPercentOfEven_AllServed()
    {
        using var server = new TestServer(reactors: 3);
        var clients = Enumerable.Range(0, 300).Select(_ => TestClient.Connect(server.Port)).ToList();
        server.WaitUntil(s => s.OpenConnections == 300, "all 300 connections are accepted");
        int[] perReactor = [.. server.Server.PerReactor.Select(r => (int)r[Counter.ConnectionsOpen])];
        Assert.All(perReactor, count => Assert.InRange(count, 90, 110));
        for (int i = 0; i < clients.Count; i++)
            Assert.True(clients[i].EchoesProbe(Patterns.For(i, 64)), $"connection {i} was not echoed");

        // Closing a third from the front frees slots unevenly; the next hundred fill the reactors that lost most.
        clients.Take(100).ToList().ForEach(c => c.Dispose());
        server.WaitUntil(s => s.OpenConnections == 200, "100 connections closed");
        var more = Enumerable.Range(0, 100).Select(_ => TestClient.Connect(server.Port)).ToList();
        server.WaitUntil(s => s.OpenConnections == 300, "100 more accepted");
        Assert.All(server.Server.PerReactor, r => Assert.InRange(r[Counter.ConnectionsOpen], 90, 110));
        clients.Skip(100).Concat(more).ToList().ForEach(c => c.Dispose());
    }

    // Each reactor has a listener of its own on the one port, and the kernel picks which gets a connection: all are
    // served whichever it picks, and with 300 connections every listener gets some.
    [Fact]
    public void Reuseport_OneListenerPerReactor_EveryConnectionServed()
    {
        using var server = new TestServer(reactors: 3, configure: o => o.Accept = "reuseport");
        Assert.Equal(3, server.Server.GetFdReportAsync().Result.ListenerFds.Count);
        var clients = Enumerable.Range(0, 300).Select(_ => TestClient.Connect(server.Port)).ToList();
        server.WaitUntil(s => s.OpenConnections == 300, "all 300 connections are accepted");
        for (int i = 0; i < clients.Count; i++)
            Assert.True(clients[i].EchoesProbe(Patterns.For(i, 64)), $"connection {i} was not echoed");
        Assert.All(server.Server.PerReactor, r => Assert.InRange(r[Counter.ConnectionsAccepted], 1, 298));
        clients.ForEach(c => c.Dispose());
    }

    // The kernel keeps 15 bytes of a thread's name, so "epollserver-reactor-K" would read "epollserver-rea" for each;
    // each reactor names itself reactor-K there, and with --pin-reactors runs on the K-th CPU of the mask only.
    [Fact]
    public void ReactorThreads_AreNamedForTopH_AndPinnedWhenAsked()
    {
        int[] cpus = EpollServer.Interop.Sys.GetCpuAffinity();
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0 --reactors 3 --pin-reactors");
        Dictionary<string, string> allowed = [];
        Wait.Until(() =>
        {
            allowed = ReactorThreads(daemon.Pid);
            return allowed.Count == 3;
        }, "three reactor threads");
        Assert.Equal(["reactor-0", "reactor-1", "reactor-2"], allowed.Keys.Order());
        for (int k = 0; k < 3; k++)
            Assert.Equal(cpus[k % cpus.Length].ToString(System.Globalization.CultureInfo.InvariantCulture), allowed[$"reactor-{k}"]);
    }

    // The reactor threads of a process: their kernel names, and the CPUs each may run on (Cpus_allowed_list).
    private static Dictionary<string, string> ReactorThreads(int pid)
    {
        var threads = new Dictionary<string, string>();
        foreach (string task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            try
            {
                string name = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
                if (!name.StartsWith("reactor-", StringComparison.Ordinal))
                    continue;
                string status = File.ReadAllText(Path.Combine(task, "status"));
                threads[name] = status.Split('\n').Single(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal)).Split(':')[1].Trim();
            }
            catch (IOException)
            {
                // A thread that ended between the listing and the read.
            }
        }
        return threads;
    }
}
