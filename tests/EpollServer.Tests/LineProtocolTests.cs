// line: readline framing across arbitrary packet splits and the ring's wrap, the max-line error, the last line at EOF.
using System.Net.Sockets;
using System.Text;
using EpollServer.Protocols;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class LineProtocolTests
{
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void OneByteAtATime_LinesComeBackAsSent_CrKept(int reactors)
    {
        using var server = new TestServer(reactors: reactors, handlers: () => new LineEchoHandler());
        using var client = TestClient.Connect(server.Port);
        byte[] input = "hello\r\nworld\n\n안녕\n"u8.ToArray();
        foreach (byte b in input)
            client.Send([b]);
        Assert.Equal(input, client.ReceiveExactly(input.Length));
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void ThousandLinesInOneSegment_AllEchoedInOrder(int reactors)
    {
        using var server = new TestServer(reactors: reactors, handlers: () => new LineEchoHandler());
        using var client = TestClient.Connect(server.Port);
        byte[] input = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 1000).Select(i => $"line {i:D4}\n")));
        client.Send(input);
        Assert.Equal(input, client.ReceiveExactly(input.Length));
    }

    // A 256-byte input ring with lines of up to 100 bytes in random chunks: lines keep landing across the ring's
    // end, so the framing must join the two halves.
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void RandomLinesInRandomChunks_AcrossTheRingWrap_EveryByteBack(int reactors)
    {
        using var server = new TestServer(configure: o => o.InputBufferSize = 256, reactors: reactors, handlers: () => new LineEchoHandler(maxLineLength: 100));
        using var client = TestClient.Connect(server.Port);
        var random = new Random(42);
        var input = new MemoryStream();
        while (input.Length < 512 * 1024)
        {
            int length = random.Next(0, 101);
            for (int i = 0; i < length; i++)
                input.WriteByte((byte)random.Next(0x20, 0x7f));
            input.WriteByte((byte)'\n');
        }
        byte[] bytes = input.ToArray();
        var receiving = Task.Run(() => client.ReceiveExactly(bytes.Length));
        for (int sent = 0; sent < bytes.Length;)
        {
            int chunk = Math.Min(random.Next(1, 700), bytes.Length - sent);
            client.Send(bytes.AsSpan(sent, chunk));
            sent += chunk;
        }
        Assert.True(receiving.Wait(30_000), "not every line came back");
        Assert.Equal(bytes, receiving.Result);
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void LineAtTheMaximum_IsEchoed_OneByteLonger_GetsAnErrorAndTheClose(int reactors)
    {
        using var server = new TestServer(reactors: reactors, handlers: () => new LineEchoHandler(maxLineLength: 100));
        using var client = TestClient.Connect(server.Port);
        string longest = new('a', 100);
        client.Send($"ok\n{longest}\n{new string('b', 101)}\nnever served\n");
        Assert.Equal("ok", client.ReadLine());
        Assert.Equal(longest, client.ReadLine());
        Assert.Equal("ERR line longer than 100 bytes; closing", client.ReadLine());
        Assert.Null(client.ReadLine());
        server.WaitUntil(s => s.OpenConnections == 0, "the connection is closed");
        Assert.Equal(1, server.HandlerCounter("lines-too-long"));
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void LongLineWithoutNewline_IsRejectedWithoutWaitingForOne(int reactors)
    {
        using var server = new TestServer(reactors: reactors, handlers: () => new LineEchoHandler(maxLineLength: 100));
        using var client = TestClient.Connect(server.Port);
        client.Send(new string('x', 5000));
        Assert.Equal("ERR line longer than 100 bytes; closing", client.ReadLine());
        Assert.Null(client.ReadLine());
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void FinalLineWithoutNewline_IsEchoedAtEof(int reactors)
    {
        using var server = new TestServer(reactors: reactors, handlers: () => new LineEchoHandler());
        using var client = TestClient.Connect(server.Port);
        client.Send("first\nlast, no newline");
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("first\nlast, no newline"u8.ToArray(), client.ReceiveToEnd());
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void OtherClientsAreUnaffectedByOnesLongLine(int reactors)
    {
        using var server = new TestServer(reactors: reactors, handlers: () => new LineEchoHandler(maxLineLength: 100));
        using var good = TestClient.Connect(server.Port);
        using var bad = TestClient.Connect(server.Port);
        bad.Send(new string('z', 300));
        Assert.Equal("ERR line longer than 100 bytes; closing", bad.ReadLine());
        good.Send("still here\n");
        Assert.Equal("still here", good.ReadLine());
    }
}
