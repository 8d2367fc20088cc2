// Random and hostile input for every line protocol, generated from a fixed seed and checked byte for byte against
// a small reference model of the protocol: NULs, CR without LF, invalid and overlong UTF-8, lines over the
// maximum, megabytes without a newline, and chat commands with huge or empty arguments.
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class AdversarialInputTests
{
    private const int MaxLine = 64;

    [Theory]
    [InlineData("line")]
    [InlineData("reverse")]
    public void GeneratedHostileInput_MatchesTheReferenceModel(string protocol)
    {
        IProtocolHandler handler = protocol == "line" ? new LineEchoHandler(MaxLine) : new ReverseHandler(MaxLine);
        Func<byte[], byte[]> model = protocol == "line" ? LineModel : ReverseModel;
        using var server = new TestServer(handler, o => o.InputBufferSize = 256);
        var random = new Random(2026);
        for (int round = 0; round < 150; round++)
        {
            byte[] input = Generate(random);
            using var client = TestClient.Connect(server.Port);
            var receiving = Task.Run(() => client.ReceiveToEnd());
            try
            {
                for (int sent = 0; sent < input.Length;)
                {
                    int chunk = Math.Min(random.Next(1, 200), input.Length - sent);
                    client.Send(input.AsSpan(sent, chunk));
                    sent += chunk;
                }
                client.Socket.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // The server closed after a line over the maximum: the rest of the input is not owed an answer.
            }
            Assert.True(receiving.Wait(TestClient.TimeoutMs), $"round {round}: no end of the answer");
            byte[] expected = model(input);
            Assert.True(expected.AsSpan().SequenceEqual(receiving.Result),
                $"round {round}: input {Convert.ToHexString(input)}\nexpected {Convert.ToHexString(expected)}\nactual   {Convert.ToHexString(receiving.Result)}");
        }
        server.WaitUntil(s => s.OpenConnections == 0, "every connection is closed");
    }

    // Memory: what one loop holds for a peer is its two rings, 16 KiB in and 64 KiB out (native-notes/limits.md),
    // borrowed from the loop's pool; the flood must not grow either, nor be kept anywhere else. So, over the 10 MB:
    // at most one input and one output ring per connection (2 of each) come out of the pool, and the loop thread
    // allocates no more than those rings plus 16 KiB for the rest (the connection's error line, its log line). A
    // server that kept the unframed bytes would allocate megabytes on that thread.
    [Fact]
    public void TenMegabytesWithoutANewline_OneErrorLine_MemoryStaysBounded_OthersServed()
    {
        using var server = new TestServer(new LineEchoHandler());
        using var flooder = TestClient.Connect(server.Port);
        using var other = TestClient.Connect(server.Port);
        server.WaitUntil(s => s.OpenConnections == 2, "both connections accepted");
        ReactorLoop loop = server.Server.Reactors[0];
        long allocatedBefore = LoopThreadAllocatedBytes(loop);
        var flooding = Task.Run(() =>
        {
            var block = new byte[64 * 1024];
            Array.Fill(block, (byte)'a');
            try
            {
                for (int i = 0; i < 160; i++)
                    flooder.Send(block);
            }
            catch (SocketException)
            {
                // Reset once the server's linger is over: expected.
            }
        });
        Assert.Equal("ERR line longer than 8192 bytes; closing", flooder.ReadLine());
        other.Send("fine\n");
        Assert.Equal("fine", other.ReadLine());
        Assert.True(flooding.Wait(30_000));
        server.WaitUntil(s => s.OpenConnections == 1, "the flooder is gone");
        Assert.Equal(1, ((LineEchoHandler)server.Server.Handler).LinesTooLong);

        long allocated = LoopThreadAllocatedBytes(loop) - allocatedBefore;
        long rings = 2 * (16 * 1024 + 64 * 1024);
        Assert.Equal((16 * 1024, 64 * 1024), (loop.Context.InputPool.BufferSize, loop.Context.OutputPool.BufferSize));
        Assert.True(loop.Context.InputPool.Allocated <= 2, $"{loop.Context.InputPool.Allocated} input rings were made for two connections");
        Assert.True(loop.Context.OutputPool.Allocated <= 2, $"{loop.Context.OutputPool.Allocated} output rings were made for two connections");
        Assert.True(allocated <= rings + 16 * 1024, $"the loop thread allocated {allocated} bytes over a 10 MB flood; two connections' rings are {rings}");
    }

    // The loop thread's own allocation counter, read on that thread.
    private static long LoopThreadAllocatedBytes(ReactorLoop reactor)
    {
        var result = new TaskCompletionSource<long>();
        reactor.Context.Loop.Post(() => result.SetResult(GC.GetAllocatedBytesForCurrentThread()));
        Assert.True(result.Task.Wait(TestClient.TimeoutMs), "the loop did not answer");
        return result.Task.Result;
    }

    [Theory]
    [InlineData("/nick ", "ERR nickname must be 1 to 16 letters, digits, '_' or '-'")]
    [InlineData("/nick", "ERR nickname must be 1 to 16 letters, digits, '_' or '-'")]
    [InlineData("/join", "ERR room name must be 1 to 32 letters, digits, '_' or '-'")]
    [InlineData("/me", "ERR usage: /me ACTION")]
    [InlineData("/", "ERR unknown command '/'; /help lists the commands")]
    [InlineData("/nick \u0000bad", "ERR control characters are not allowed; not sent")]
    public void ChatCommandsWithEmptyOrBadArguments_GetAnError(string line, string error)
    {
        using var server = new TestServer(new ChatHandler());
        using var client = TestClient.Connect(server.Port);
        client.ReadLine();
        client.Send(line + "\n");
        Assert.Equal(error, client.ReadLine());
    }

    [Fact]
    public void ChatCommandsWithHugeArguments_GetAnError_NothingRelayed()
    {
        using var server = new TestServer(new ChatHandler());
        using var client = TestClient.Connect(server.Port);
        using var witness = TestClient.Connect(server.Port);
        client.ReadLine();
        witness.ReadLine();
        client.ReadLine();
        client.Send("/nick " + new string('n', 8000) + "\n");
        Assert.Equal("ERR nickname must be 1 to 16 letters, digits, '_' or '-'", client.ReadLine());
        client.Send("/join " + new string('r', 8000) + "\n");
        Assert.Equal("ERR room name must be 1 to 32 letters, digits, '_' or '-'", client.ReadLine());
        client.Send("/" + new string('c', 8000) + "\n");
        Assert.Equal($"ERR unknown command '/{new string('c', 31)}...'; /help lists the commands", client.ReadLine());
        client.Send("/me " + new string('w', 8100) + "\n");   // a long action is a message like any other
        client.Send("done\n");
        Assert.Equal("* guest1 " + new string('w', 8100), witness.ReadLine());
        Assert.Equal("<guest1> done", witness.ReadLine());
    }

    // Random garbage from one chat member: the other receives exactly the lines the model says are relayed.
    [Fact]
    public void ChatGarbage_OnlyValidTextIsRelayed_InOrder()
    {
        using var server = new TestServer(new ChatHandler(MaxLine));
        using var sender = TestClient.Connect(server.Port);
        using var witness = TestClient.Connect(server.Port);
        sender.ReadLine();
        witness.ReadLine();
        sender.ReadLine();
        var random = new Random(7);
        var expected = new List<string>();
        for (int i = 0; i < 300; i++)
        {
            byte[] line = Generate(random, allowNewline: false, formatting: true);
            if (line.Length > MaxLine || (line.Length > 0 && line[0] == (byte)'/'))
                continue;   // the model covers plain lines; over-long lines and commands are tested above
            sender.Send([.. line, (byte)'\n']);
            if (ChatRelays(line))
                expected.Add("<guest1> " + Encoding.UTF8.GetString(line.AsSpan(0, line.Length - (line.Length > 0 && line[^1] == '\r' ? 1 : 0))));
        }
        sender.Send("end\n");
        expected.Add("<guest1> end");
        foreach (string line in expected)
            Assert.Equal(line, witness.ReadLine());
    }

    private static bool ChatRelays(byte[] line)
    {
        ReadOnlySpan<byte> text = line.Length > 0 && line[^1] == '\r' ? line.AsSpan(0, line.Length - 1) : line;
        if (text.IsEmpty || !System.Text.Unicode.Utf8.IsValid(text))
            return false;
        foreach (byte b in text)
        {
            if ((b < 0x20 && b != '\t') || b == 0x7f)
                return false;
        }
        // C1 controls and the bidirectional controls, read as characters (the server reads bytes).
        return !Encoding.UTF8.GetString(text).Any(c => c is (>= '\u0080' and <= '\u009F') or '\u061C' or '\u200E' or '\u200F'
            or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069'));
    }

    // Fragments a hostile peer would send, glued at random.
    private static byte[] Generate(Random random, bool allowNewline = true, bool formatting = false)
    {
        byte[][] fragments =
        [
            "hello"u8.ToArray(), "안녕"u8.ToArray(), "👍🏽"u8.ToArray(), "e\u0301"u8.ToArray(), "\t"u8.ToArray(),
            [0], [0, 0, 0], [(byte)'\r'], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0x80], [0xFF], [0xE3, 0x81], [0x1B, (byte)'[', (byte)'2', (byte)'J'],
        ];
        if (formatting)   // for chat: C1 (CSI, NEL), bidirectional overrides, isolates and marks, and their neighbours
            fragments = [.. fragments, "\u009B2J"u8.ToArray(), "\u0085"u8.ToArray(), "\u202E"u8.ToArray(), "\u2066"u8.ToArray(),
                "\u200F"u8.ToArray(), "\u061C"u8.ToArray(), "\u00A0"u8.ToArray(), "\u2010"u8.ToArray(), "\u206A"u8.ToArray(), "\u202F"u8.ToArray()];
        var bytes = new List<byte>();
        int parts = random.Next(0, 12);
        for (int i = 0; i < parts; i++)
        {
            switch (random.Next(10))
            {
                case 0 when allowNewline:
                    bytes.Add((byte)'\n');
                    break;
                case 1:
                    bytes.AddRange(Enumerable.Repeat((byte)'z', random.Next(20, 90)));   // sometimes over MaxLine
                    break;
                case 2:
                    for (int j = random.Next(1, 8); j > 0; j--)
                        bytes.Add((byte)random.Next(allowNewline ? 0 : 11, 256));
                    break;
                default:
                    bytes.AddRange(fragments[random.Next(fragments.Length)]);
                    break;
            }
        }
        return [.. bytes];
    }

    // line: every LF-terminated line back as sent; a line over the maximum ends it with the error; at EOF the
    // remainder back as it is.
    private static byte[] LineModel(byte[] input) => LineProtocolModel(input, (line, terminated) =>
        terminated ? [.. line, (byte)'\n'] : line);

    // reverse: grapheme clusters reversed (by another API than the server's), the ending mirrored, invalid
    // UTF-8 answered with an error line.
    private static byte[] ReverseModel(byte[] input) => LineProtocolModel(input, (line, terminated) =>
    {
        bool cr = line.Length > 0 && line[^1] == '\r';
        byte[] text = cr ? line[..^1] : line;
        if (!System.Text.Unicode.Utf8.IsValid(text))
            return "ERR line is not valid UTF-8\n"u8.ToArray();
        var clusters = new List<string>();
        TextElementEnumerator elements = StringInfo.GetTextElementEnumerator(Encoding.UTF8.GetString(text));
        while (elements.MoveNext())
            clusters.Add(elements.GetTextElement());
        clusters.Reverse();
        byte[] ending = terminated ? (cr ? "\r\n"u8.ToArray() : "\n"u8.ToArray()) : (cr ? "\r"u8.ToArray() : []);
        return [.. Encoding.UTF8.GetBytes(string.Concat(clusters)), .. ending];
    });

    private static byte[] LineProtocolModel(byte[] input, Func<byte[], bool, byte[]> answer)
    {
        var output = new List<byte>();
        int start = 0;
        while (true)
        {
            int newline = Array.IndexOf(input, (byte)'\n', start);
            int length = (newline < 0 ? input.Length : newline) - start;
            if (length > MaxLine)
            {
                output.AddRange(Encoding.ASCII.GetBytes($"ERR line longer than {MaxLine} bytes; closing\n"));
                return [.. output];
            }
            if (newline < 0)
            {
                if (length > 0)
                    output.AddRange(answer(input[start..], false));
                return [.. output];
            }
            output.AddRange(answer(input[start..newline], true));
            start = newline + 1;
        }
    }
}
