// SIGTERM while clients are sending: every byte the server took in is echoed before its FIN, and it exits 0.
using System.Net.Sockets;
using System.Text.RegularExpressions;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class GracefulStopTests
{
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void Sigterm_WhileClientsSend_EchoesEverythingReceivedAndExitsZero(int reactors)
    {
        using var daemon = DaemonProcess.Start($"--address 127.0.0.1 --port 0 --reactors {reactors}");
        const int clients = 8;
        var results = new Task<(byte[] Sent, byte[] Received)>[clients];
        var echoed = new long[clients];
        for (int i = 0; i < clients; i++)
        {
            int id = i;
            results[i] = Task.Factory.StartNew(() => SendUntilServerFin(daemon.Port, id, echoed), TaskCreationOptions.LongRunning);
        }
        // The stop must land mid-stream: every client has had some of its bytes back, and is still sending.
        Wait.Until(() => Enumerable.Range(0, clients).All(i => Volatile.Read(ref echoed[i]) >= 64 * 1024) || results.Any(r => r.IsCompleted),
            "every client had 64 KiB echoed", 60_000);
        Assert.DoesNotContain(results, r => r.IsCompleted);
        daemon.Signal(DaemonProcess.SIGTERM);

        Assert.True(Task.WaitAll(results, 60_000), "clients did not see the server's FIN in time");
        Assert.Equal(0, daemon.WaitForExit());

        long totalEchoed = 0;
        foreach (var (sent, received) in results.Select(t => t.Result))
        {
            Assert.True(received.Length > 0, "a client got nothing back");
            Assert.True(received.Length <= sent.Length);
            Assert.True(sent.AsSpan(0, received.Length).SequenceEqual(received), "echoed bytes differ from what was sent");
            totalEchoed += received.Length;
        }
        // The server's final line: what it received equals what it sent back, and equals what clients got.
        Match stopped = new Regex(@"stopped: .*bytes in=(\d+) out=(\d+)").Match(daemon.WaitForLine(new Regex("stopped: ")));
        Assert.Equal(stopped.Groups[1].Value, stopped.Groups[2].Value);
        Assert.Equal(totalEchoed, long.Parse(stopped.Groups[2].Value));
        Assert.DoesNotContain(daemon.Lines, l => l.Contains("drain deadline", StringComparison.Ordinal));
    }

    // Sends a pattern in 16 KiB chunks until the server's FIN arrives on the reading side, then stops and half-closes,
    // as a well-behaved client does. echoed[id]: what has come back so far.
    private static (byte[] Sent, byte[] Received) SendUntilServerFin(int port, int id, long[] echoed)
    {
        using var client = TestClient.Connect(port);
        byte[] pattern = Patterns.For(id, 16 * 1024 * 1024);
        var finSeen = new ManualResetEventSlim();
        var reading = Task.Factory.StartNew(() =>
        {
            try
            {
                return ReceiveToEnd(client, pattern.Length, n => Volatile.Write(ref echoed[id], n));
            }
            finally
            {
                finSeen.Set();
            }
        }, TaskCreationOptions.LongRunning);
        int sent = 0;
        try
        {
            while (!finSeen.IsSet && sent < pattern.Length)
            {
                sent += client.Socket.Send(pattern, sent, Math.Min(16 * 1024, pattern.Length - sent), SocketFlags.None);
                Thread.Sleep(1);   // a steady stream, not a flood: the point is bytes in flight at the stop
            }
            client.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server may already be gone after its FIN; what counts is what the reader got.
        }
        Assert.True(reading.Wait(60_000), "no FIN from the server");
        return (pattern[..sent], reading.Result);
    }

    private static byte[] ReceiveToEnd(TestClient client, int maxBytes, Action<long> progress)
    {
        var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = client.Socket.Receive(buffer)) > 0)
        {
            all.Write(buffer, 0, n);
            progress(all.Length);
            Assert.True(all.Length <= maxBytes, "more bytes came back than were sent");
        }
        return all.ToArray();
    }
}
