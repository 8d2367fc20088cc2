// Idle, first-byte and request (slowloris) timeouts: the silent and the dripping are closed and counted, while
// clients that keep talking, or that the protocol lets listen, are left alone. The server runs on a clock the test
// advances, so every assertion is about the server's own time, however slowly this machine runs the test.
using EpollServer.Diagnostics;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace EpollServer.Tests;

public sealed class TimeoutTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void IdleConnection_IsClosed_OneThatKeepsTalkingIsNot(int reactors)
    {
        using var server = new TestServer(reactors: reactors, configure: o => { o.IdleTimeout = TimeSpan.FromSeconds(10); o.FirstByteTimeout = TimeSpan.Zero; },
            clock: new FakeTimeProvider());
        using var idle = TestClient.Connect(server.Port);
        using var busy = TestClient.Connect(server.Port);
        Assert.True(idle.EchoesProbe([1]));
        // A byte every 3 s of the server's time: never 10 s without one, so never idle.
        for (int i = 0; i < 3; i++)
        {
            Assert.True(busy.EchoesProbe([(byte)i]), $"the busy client was closed after {i} probes");
            server.Advance(3 * Second);
        }
        Assert.Equal(2, server.Server.OpenConnections);   // 9 s since the idle client's last byte: not yet
        Assert.True(busy.EchoesProbe([3]));
        server.Advance(Second);
        Assert.Empty(idle.ReceiveToEnd());
        Assert.True(busy.EchoesProbe([99]));
        Assert.Equal(1, server.Server.Stats[Counter.IdleTimeouts]);
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void SilentClient_IsClosedByTheFirstByteTimeout_ChatListenerIsNot(int reactors)
    {
        using var echo = new TestServer(reactors: reactors, configure: o => o.FirstByteTimeout = TimeSpan.FromSeconds(3), clock: new FakeTimeProvider());
        using var silent = TestClient.Connect(echo.Port);
        using var talker = TestClient.Connect(echo.Port);
        Assert.True(talker.EchoesProbe([1]));
        echo.WaitUntil(s => s.OpenConnections == 2, "both connections accepted");
        echo.Advance(2 * Second);
        Assert.Equal(2, echo.Server.OpenConnections);
        echo.Advance(Second);
        Assert.Empty(silent.ReceiveToEnd());
        echo.Advance(10 * Second);   // long past the first-byte timeout: it no longer applies to the client that spoke
        Assert.True(talker.EchoesProbe([2]));
        Assert.Equal(1, echo.Server.Stats[Counter.FirstByteTimeouts]);

        // Chat greets first, and a member may only listen.
        using var chat = new TestServer(reactors: reactors, handlers: ChatHandler.Factory(), configure: o => o.FirstByteTimeout = TimeSpan.FromSeconds(3), clock: new FakeTimeProvider());
        using var listener = TestClient.Connect(chat.Port);
        listener.ReadLine();
        chat.Advance(10 * Second);
        listener.Send("/who\n");
        Assert.Equal("* in #lobby (1): guest1 (you)", listener.ReadLine());
        Assert.Equal(0, chat.Server.Stats[Counter.FirstByteTimeouts]);
    }

    // Slowloris: one byte a second of a line that never ends. The client is never idle, so only the request timeout
    // (8 s) can end it, exactly when it is due; a client sending whole lines at the same pace is not touched.
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void DrippedLineThatNeverEnds_IsClosedByTheRequestTimeout_WholeLinesAreNot(int reactors)
    {
        using var server = new TestServer(reactors: reactors, handlers: () => new LineEchoHandler(), configure: o =>
        {
            o.RequestTimeout = TimeSpan.FromSeconds(8);
            o.IdleTimeout = TimeSpan.FromSeconds(60);
        }, clock: new FakeTimeProvider());
        using var dripper = TestClient.Connect(server.Port);
        using var honest = TestClient.Connect(server.Port);
        for (int second = 0; second < 8; second++)
        {
            Assert.Equal(0, server.Server.Stats[Counter.RequestTimeouts]);
            honest.Send($"line {second}\n");
            Assert.Equal($"line {second}", honest.ReadLine());
            long before = server.Server.Stats[Counter.BytesReceived];
            dripper.Send([(byte)'x']);
            server.WaitUntil(s => s.Stats[Counter.BytesReceived] == before + 1, "the dripped byte arrived");
            server.Advance(Second);
        }
        Assert.Equal(1, server.Server.Stats[Counter.RequestTimeouts]);
        Assert.Empty(dripper.ReceiveToEnd());
        Assert.Equal(0, server.Server.Stats[Counter.IdleTimeouts]);
        honest.Send("still served\n");
        Assert.Equal("still served", honest.ReadLine());
    }

    // Echo has no requests: every byte is answered at once, so a slow typist is never "incomplete".
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void DripFedEcho_IsNotARequestTimeout(int reactors)
    {
        using var server = new TestServer(reactors: reactors, configure: o => o.RequestTimeout = TimeSpan.FromSeconds(3), clock: new FakeTimeProvider());
        using var client = TestClient.Connect(server.Port);
        for (int i = 0; i < 10; i++)
        {
            Assert.True(client.EchoesProbe([(byte)i]));
            server.Advance(Second);
        }
        Assert.True(client.EchoesProbe([99]));
        Assert.Equal(0, server.Server.Stats[Counter.RequestTimeouts]);
    }
}
