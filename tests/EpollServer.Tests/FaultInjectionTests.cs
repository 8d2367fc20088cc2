// Every kind of bad peer at once against the real daemon, while one good client streams 4 MiB and checks every
// byte: the daemon stays up, the good client gets everything it is owed, and the fd count in /proc returns to the
// baseline once the bad peers are gone (closed by them, or by the server's timeouts).
using System.Net.Sockets;
using EpollServer.Diagnostics;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class FaultInjectionTests
{
    [Fact]
    public void BadPeersOfEveryKind_GoodClientGetsEveryByte_FdsBackToBaseline()
    {
        // Timeouts short enough to end the silent and the deaf peer within the test, long enough that a good client
        // stalled for a second or two by a busy machine is not taken for idle.
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0 --first-byte-timeout 3 --idle-timeout 6");
        DaemonFdReport.Request(daemon);
        int baseline = ProcFd.Count(daemon.Pid);

        using var good = TestClient.Connect(daemon.Port);
        byte[] payload = Patterns.For(11, 4 * 1024 * 1024);
        var receiving = OnThread(() => good.ReceiveExactly(payload.Length));
        var sending = OnThread(() =>
        {
            for (int sent = 0; sent < payload.Length; sent += 64 * 1024)
            {
                good.Send(payload.AsSpan(sent, 64 * 1024));
                Thread.Sleep(5);   // spread over the bad peers' lifetime
            }
        });

        var bad = new List<Task>();
        for (int i = 0; i < 5; i++)
        {
            int seed = i;
            bad.Add(OnThread(() => ResetMidWrite(daemon.Port, seed)));
            bad.Add(OnThread(() => HalfCloseAndKeepReading(daemon.Port, seed)));
            bad.Add(OnThread(() => ConnectAndVanish(daemon.Port)));
        }
        using var silent = TestClient.Connect(daemon.Port);                          // opens and never sends
        using var deaf = TestClient.Connect(daemon.Port, receiveBuffer: 4096);      // sends and never reads
        deaf.Socket.SendTimeout = 1000;
        try
        {
            deaf.Send(Patterns.For(5, 8 * 1024 * 1024));
        }
        catch (SocketException)
        {
            // Backpressure: the server stopped reading from it, so its send buffer filled and the send timed out.
        }

        Assert.True(Task.WaitAll([.. bad], 30_000), "a bad peer's script hung");
        Assert.True(sending.Wait(30_000) && receiving.Wait(30_000), "the good client was not served");
        Assert.Equal(payload, receiving.Result);

        // The silent one goes at the first-byte timeout, the deaf one at the idle timeout (nothing moves).
        Assert.Empty(silent.ReceiveToEnd());
        good.Dispose();
        Wait.Until(() => ProcFd.Count(daemon.Pid) == baseline, $"the fd count returns to {baseline}", 30_000);
        DaemonFdReport after = DaemonFdReport.Request(daemon);
        Assert.Equal(0, after.Connections);
        Assert.False(daemon.HasExited);
        using var later = TestClient.Connect(daemon.Port);
        Assert.True(later.EchoesProbe([42]));
        daemon.Signal(DaemonProcess.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit());
        Assert.Contains(daemon.Lines, l => l.Contains("first-byte=1", StringComparison.Ordinal) && l.Contains("stopped: ", StringComparison.Ordinal));
    }

    // A dedicated thread per peer: dozens of blocking sockets on the thread pool would starve it on a 2-core
    // machine, and a peer that is merely late would look like one that went silent.
    private static Task<T> OnThread<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }) { IsBackground = true }.Start();
        return done.Task;
    }

    private static Task<bool> OnThread(Action work) => OnThread(() =>
    {
        work();
        return true;
    });

    // Sends while the server echoes into a full socket, then resets (SO_LINGER 0) with bytes unread on both sides.
    private static void ResetMidWrite(int port, int seed)
    {
        using var rude = TestClient.Connect(port, receiveBuffer: 4096);
        rude.Socket.SendTimeout = 300;
        try
        {
            rude.Send(Patterns.For(seed, 1024 * 1024));
        }
        catch (SocketException)
        {
        }
        rude.Socket.LingerState = new LingerOption(true, 0);
    }

    // Shuts down its sending side first, then reads: everything it sent must still come back, then the FIN.
    private static void HalfCloseAndKeepReading(int port, int seed)
    {
        using var client = TestClient.Connect(port);
        byte[] data = Patterns.For(100 + seed, 300 * 1024);
        var reading = OnThread(() => client.ReceiveToEnd());
        client.Send(data);
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.True(reading.Wait(TestClient.TimeoutMs));
        Assert.Equal(data, reading.Result);
    }

    private static void ConnectAndVanish(int port)
    {
        for (int i = 0; i < 20; i++)
            TestClient.Connect(port).Dispose();
    }
}
