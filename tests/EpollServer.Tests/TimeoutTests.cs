// Idle, first-byte and request (slowloris) timeouts: the silent and the dripping are closed and counted, while
// clients that keep talking, or that the protocol lets listen, are left alone.
using System.Net.Sockets;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class TimeoutTests
{
    [Fact]
    public void IdleConnection_IsClosed_OneThatKeepsTalkingIsNot()
    {
        using var server = new TestServer(configure: o => { o.IdleTimeout = TimeSpan.FromSeconds(1); o.FirstByteTimeout = TimeSpan.Zero; });
        using var idle = TestClient.Connect(server.Port);
        using var busy = TestClient.Connect(server.Port);
        Assert.True(idle.EchoesProbe([1]));
        // Two seconds of a byte every 150 ms: never a second without one, so never idle.
        for (int i = 0; i < 14; i++)
        {
            Assert.True(busy.EchoesProbe([(byte)i]), $"the busy client was closed after {i} probes");
            Thread.Sleep(150);
        }
        Assert.Empty(idle.ReceiveToEnd());
        Assert.True(busy.EchoesProbe([99]));
        Assert.Equal(1, server.Server.Stats.IdleTimeouts);
    }

    [Fact]
    public void SilentClient_IsClosedByTheFirstByteTimeout_ChatListenerIsNot()
    {
        using var echo = new TestServer(configure: o => o.FirstByteTimeout = TimeSpan.FromMilliseconds(300));
        using var silent = TestClient.Connect(echo.Port);
        using var talker = TestClient.Connect(echo.Port);
        Assert.True(talker.EchoesProbe([1]));
        Assert.Empty(silent.ReceiveToEnd());
        Thread.Sleep(500);   // past the first-byte timeout: it no longer applies to the client that spoke
        Assert.True(talker.EchoesProbe([2]));
        Assert.Equal(1, echo.Server.Stats.FirstByteTimeouts);

        // Chat greets first, and a member may only listen.
        using var chat = new TestServer(new ChatHandler(), o => o.FirstByteTimeout = TimeSpan.FromMilliseconds(300));
        using var listener = TestClient.Connect(chat.Port);
        listener.ReadLine();
        Thread.Sleep(800);
        listener.Send("/who\n");
        Assert.Equal("* in #lobby (1): guest1 (you)", listener.ReadLine());
        Assert.Equal(0, chat.Server.Stats.FirstByteTimeouts);
    }

    // Slowloris: one byte every 100 ms of a line that never ends. The client is never idle, so only the request
    // timeout can end it; a client sending whole lines at the same pace is not touched.
    [Fact]
    public void DrippedLineThatNeverEnds_IsClosedByTheRequestTimeout_WholeLinesAreNot()
    {
        using var server = new TestServer(new LineEchoHandler(), o =>
        {
            o.RequestTimeout = TimeSpan.FromMilliseconds(800);
            o.IdleTimeout = TimeSpan.FromSeconds(60);
        });
        using var dripper = TestClient.Connect(server.Port);
        using var honest = TestClient.Connect(server.Port);
        int dripped = 0;
        bool closed = false;
        for (; dripped < 100 && !closed; dripped++)
        {
            honest.Send($"line {dripped}\n");
            Assert.Equal($"line {dripped}", honest.ReadLine());
            try
            {
                dripper.Send([(byte)'x']);
            }
            catch (SocketException)
            {
                closed = true;
            }
            closed |= dripper.Socket.Poll(0, SelectMode.SelectRead);   // readable with nothing sent to it: EOF
            Thread.Sleep(100);
        }
        Assert.True(closed, "the dripping client was still open after 10 s");
        Assert.InRange(dripped, 5, 60);
        Assert.Equal(1, server.Server.Stats.RequestTimeouts);
        Assert.Equal(0, server.Server.Stats.IdleTimeouts);
        honest.Send("still served\n");
        Assert.Equal("still served", honest.ReadLine());
    }

    // Echo has no requests: every byte is answered at once, so a slow typist is never "incomplete".
    [Fact]
    public void DripFedEcho_IsNotARequestTimeout()
    {
        using var server = new TestServer(configure: o => o.RequestTimeout = TimeSpan.FromMilliseconds(300));
        using var client = TestClient.Connect(server.Port);
        for (int i = 0; i < 10; i++)
        {
            Assert.True(client.EchoesProbe([(byte)i]));
            Thread.Sleep(100);
        }
        Assert.Equal(0, server.Server.Stats.RequestTimeouts);
    }
}
