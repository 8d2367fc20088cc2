// The request timeout measures how long the current request has been incomplete: a client that pipelines, each
// segment finishing one line and starting the next, is never cut off however long it talks, while a line that never
// ends is closed exactly when it is due. For every line protocol, on a clock the test advances.
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
