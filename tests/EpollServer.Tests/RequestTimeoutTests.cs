// The request timeout measures how long the current request has been incomplete: a client that pipelines, each
// segment finishing one line and starting the next, is never cut off however long it talks, while a line that never
// ends is closed exactly when it is due. For every line protocol, and for HTTP heads and bodies (a handler that
// holds the request timer while it consumes a body, and answers 408 in OnRequestTimeout), on a clock the test advances.
using System.Text.RegularExpressions;
using EpollServer.Diagnostics;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace EpollServer.Tests;

public sealed class RequestTimeoutTests
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(300);

    public static TheoryData<string, int> LineProtocols => new() { { "line", 1 }, { "line", 3 }, { "reverse", 1 }, { "reverse", 3 }, { "chat", 1 }, { "chat", 3 } };

    [Theory]
    [MemberData(nameof(LineProtocols))]
    public void PipeliningClient_IsNeverCutOff_ANeverEndingLineIsClosedOnTime(string protocol, int reactors)
    {
        Func<IProtocolHandler> handlers = protocol switch
        {
            "line" => () => new LineEchoHandler(),
            "reverse" => () => new ReverseHandler(),
            _ => ChatHandler.Factory(),
        };
        using var server = new TestServer(reactors: reactors, handlers: handlers, configure: o =>
        {
            o.RequestTimeout = TimeSpan.FromSeconds(3);
            o.IdleTimeout = TimeSpan.FromMinutes(5);
        }, clock: new FakeTimeProvider());
        using var pipeliner = TestClient.Connect(server.Port);
        using var dripper = TestClient.Connect(server.Port);
        // Chat answers nobody's message to themselves: a third member reads what the pipeliner sends.
        using TestClient? listener = protocol == "chat" ? TestClient.Connect(server.Port) : null;
        server.WaitUntil(s => s.OpenConnections == (listener is null ? 2 : 3), "every client accepted");
        TestClient reader = listener ?? pipeliner;
        if (listener is not null)
            SkipChatGreetings(pipeliner, dripper, listener);

        Send(server, pipeliner, "a");
        Send(server, dripper, "x");
        // 30 steps of 0.3 s: three times the timeout. The dripped line is 3 s old after the 10th.
        for (int step = 1; step <= 30; step++)
        {
            Send(server, pipeliner, "\na");   // finishes one line, starts the next
            Assert.EndsWith("a", ReadReply(reader));
            if (step <= 10)
                Send(server, dripper, "x");
            server.Advance(Step);
            Assert.True(server.Server.Stats[Counter.RequestTimeouts] == (step < 10 ? 0 : 1),
                $"after {step} steps of 0.3 s: {server.Server.Stats[Counter.RequestTimeouts]} request timeouts");
        }
        Assert.True(CloseSeen(dripper), "the dripping client was not closed");
        Send(server, pipeliner, "\n");
        Assert.EndsWith("a", ReadReply(reader));
        Assert.Equal(1, server.Server.Stats[Counter.RequestTimeouts]);
    }

    // HTTP: the request time covers head and body. A client that sends one whole request (head and Content-Length or
    // chunked body) per step is never cut off; one whose body trickles in is answered 408 and closed when the time
    // since its head began passes --request-timeout, though every step brought bytes the handler consumed.
    [Theory]
    [InlineData("Content-Length: 100\r\n\r\n", "x")]
    [InlineData("Transfer-Encoding: chunked\r\n\r\n", "1\r\nx\r\n")]
    [InlineData("X-Head: never ends\r\n", "X-More: y\r\n")]
    public void Http_ATricklingRequest_Gets408AtTheTimeout_AWholeRequestPerStepNever(string start, string drip)
    {
        using var server = new TestServer(reactors: 1, handlers: () => new EpollServer.Protocols.Http.BenchmarkHttpHandler(), configure: o =>
        {
            o.RequestTimeout = TimeSpan.FromSeconds(3);
            o.IdleTimeout = TimeSpan.FromMinutes(5);
            o.LingerTimeout = TimeSpan.FromMinutes(5);
        }, clock: new FakeTimeProvider());
        using var steady = HttpClientConnection.Connect(server.Port);
        using var trickler = HttpClientConnection.Connect(server.Port);
        string whole = "POST /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n";
        Send(server, trickler, "POST /plaintext HTTP/1.1\r\nHost: t\r\n" + start);
        for (int step = 1; step <= 20; step++)
        {
            Send(server, steady, whole);
            Assert.Equal(405, steady.Read()!.Status);
            if (step < 10)
                Send(server, trickler, drip);
            server.Advance(Step);
            Assert.True(server.Server.Stats[Counter.RequestTimeouts] == (step < 10 ? 0 : 1),
                $"after {step} steps of 0.3 s: {server.Server.Stats[Counter.RequestTimeouts]} request timeouts");
        }
        HttpResponse? timedOut = trickler.Read();
        Assert.True(timedOut is not null, $"no 408 before the end ({trickler.End})");
        Assert.Equal((408, "close"), (timedOut.Status, timedOut.Header("Connection")));
        Assert.Equal(ConnectionEnd.Fin, trickler.WaitForEnd());
    }

    private static void Send(TestServer server, HttpClientConnection client, string text)
    {
        long before = server.Server.Stats[Counter.BytesReceived];
        client.Send(text);
        server.WaitUntil(s => s.Stats[Counter.BytesReceived] >= before + text.Length, "the server read the request bytes");
    }

    // Sends and waits until the server has read it, so that the next Advance comes after it on the server's clock.
    private static void Send(TestServer server, TestClient client, string text)
    {
        long before = server.Server.Stats[Counter.BytesReceived];
        client.Send(text);
        server.WaitUntil(s => s.Stats[Counter.BytesReceived] >= before + text.Length, $"the server read '{text.ReplaceLineEndings("\\n")}'");
    }

    // The next line that is not a chat notice ("* guest2 left ...").
    private static string? ReadReply(TestClient reader)
    {
        string? line;
        do
            line = reader.ReadLine();
        while (line is not null && line.StartsWith("* ", StringComparison.Ordinal));
        return line;
    }

    // Each member's welcome, and the join notices of those who came after it: how many is in the welcome ("with 1
    // other"), since on several reactors the members may be welcomed in another order than they connected.
    private static void SkipChatGreetings(params TestClient[] members)
    {
        foreach (TestClient member in members)
        {
            string welcome = member.ReadLine()!;
            Match before = Regex.Match(welcome, @"^\* welcome .* with (\d+) others?;");
            Assert.True(before.Success, welcome);
            for (int later = members.Length - 1 - int.Parse(before.Groups[1].Value); later > 0; later--)
                Assert.EndsWith("joined #lobby", member.ReadLine());
        }
    }

    // What the dripper was sent before the close (chat relays the pipeliner's lines to it), then EOF.
    private static bool CloseSeen(TestClient client)
    {
        try
        {
            while (client.ReadLine() is not null)
            {
            }
            return true;
        }
        catch (EndOfStreamException)
        {
            return true;   // EOF after a partial line: also a close
        }
    }
}
