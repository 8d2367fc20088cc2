// A connection storm against a daemon with few fds and a short backlog, SIGTERM in the middle of it: the daemon
// caps its connections below the fd limit (keeping a reserve for the runtime) and refuses the rest with a line,
// keeps serving the connection it has, exits 0, and delivers every byte it read. Before the cap, this ran the
// process out of fds and SIGTERM then aborted it ("Out of memory.", exit 134).
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed partial class StormTests
{
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void StormUnderAnFdLimit_SigtermMidway_ExitsZero_EverythingReadIsEchoed(int reactors)
    {
        using var daemon = DaemonProcess.Start($"--address 127.0.0.1 --port 0 --backlog 16 --max-connections 0 --shutdown-timeout 3 --reactors {reactors}", fdLimit: 200);
        int cap = int.Parse(CapLine().Match(daemon.WaitForLine(CapLine())).Groups[1].Value);
        DaemonFdReport.Request(daemon);   // load the stats path while fds are still plentiful

        // A good client streaming throughout; after the stop it reads to the end.
        using var good = TestClient.Connect(daemon.Port);
        byte[] payload = Patterns.For(9, 8 * 1024 * 1024);
        long sent = 0;
        var receiving = Task.Run(() => good.ReceiveToEnd());
        var sending = new Thread(() =>
        {
            try
            {
                for (int offset = 0; offset < payload.Length; offset += 16 * 1024)
                {
                    good.Send(payload.AsSpan(offset, 16 * 1024));
                    Interlocked.Add(ref sent, 16 * 1024);
                    Thread.Sleep(2);
                }
            }
            catch (SocketException)
            {
                // The server stopped reading and closed: the rest of the payload is not owed.
            }
        }) { IsBackground = true };
        sending.Start();

        // The storm: 8 threads connecting as fast as they can for 3 s, holding what they get, so the fd table fills
        // and the 16-slot backlog overflows (SYNs dropped: those connects time out after 1 s).
        var held = new System.Collections.Concurrent.ConcurrentBag<Socket>();
        var storm = Enumerable.Range(0, 8).Select(_ => new Thread(() => Storm(daemon.Port, held, TimeSpan.FromSeconds(3))) { IsBackground = true }).ToList();
        storm.ForEach(t => t.Start());
        Wait.Until(() => held.Count > cap + 20, $"the storm holds more connections than the cap of {cap}", 15_000);
        daemon.Signal(DaemonProcess.SIGTERM);
        storm.ForEach(t => Assert.True(t.Join(20_000), "a storm thread did not stop"));
        foreach (Socket socket in held)
            socket.Dispose();

        Assert.True(daemon.WaitForExit(30_000) == 0, daemon.Output);
        Assert.True(sending.Join(20_000) && receiving.Wait(20_000), "the good client did not finish");
        byte[] echoed = receiving.Result;
        Assert.True(echoed.AsSpan().SequenceEqual(payload.AsSpan(0, echoed.Length)), "the good client's echo differs from what it sent");
        Match stopped = StoppedLine().Match(daemon.WaitForLine(StoppedLine()));
        // Every byte read was sent back (or the drain deadline says what was not); the cap refused the excess.
        bool deadline = daemon.Lines.Any(l => l.Contains("drain deadline reached", StringComparison.Ordinal));
        Assert.True(deadline || stopped.Groups["in"].Value == stopped.Groups["out"].Value, stopped.Value);
        Assert.True(long.Parse(stopped.Groups["rejected"].Value) > 0, stopped.Value);
        Assert.DoesNotContain(daemon.Lines, l => l.Contains("EMFILE", StringComparison.Ordinal));
        Assert.True(echoed.Length > 0);
    }

    // Connects until the deadline; each connection that succeeds sends one byte and is kept open.
    private static void Storm(int port, System.Collections.Concurrent.ConcurrentBag<Socket> held, TimeSpan duration)
    {
        var until = DateTime.UtcNow + duration;
        while (DateTime.UtcNow < until)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { SendTimeout = 1000 };
            try
            {
                using var cts = new CancellationTokenSource(1000);
                socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token).AsTask().GetAwaiter().GetResult();
                socket.Send([1]);
                held.Add(socket);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                socket.Dispose();   // refused, reset, or the SYN sat in a full backlog: a storm loses some
            }
        }
    }

    [GeneratedRegex(@"stopped: .* rejected=(?<rejected>\d+).* bytes in=(?<in>\d+) out=(?<out>\d+)")]
    private static partial Regex StoppedLine();

    [GeneratedRegex(@"max connections lowered to (\d+)")]
    private static partial Regex CapLine();
}
