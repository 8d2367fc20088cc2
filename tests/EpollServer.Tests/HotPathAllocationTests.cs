// "No allocation per message": each loop thread's own allocation counter, read on that thread itself, moves by no more
// over 10,000 messages than over no message at all (the probes' own cost, measured apart): not one byte; on one
// reactor and on three, with a client on each.
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class HotPathAllocationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void EchoingTenThousandMessages_AllocatesNothingOnAnyLoopThread(int reactors)
    {
        // On a clock the test holds still: the clients wait their turn (tens of seconds on a busy machine), and the
        // first-byte and idle timers they are subject to must not close them meanwhile; each message still touches them.
        using var server = new TestServer(reactors: reactors, clock: new Microsoft.Extensions.Time.Testing.FakeTimeProvider());
        TestClient[] clients = [.. Enumerable.Range(0, reactors).Select(_ => TestClient.Connect(server.Port))];
        server.WaitUntil(s => s.PerReactor.All(r => r[Diagnostics.Counter.ConnectionsOpen] == 1), "a client on each reactor");
        byte[] message = Patterns.For(42, 100);
        foreach (TestClient client in clients)
            RoundTrips(client, message, 2_000);   // warm-up: pools filled, tiered JIT settled, lists grown

        (long allocated, long probes) = AllocatedOnLoops(server.Server, () =>
        {
            foreach (TestClient client in clients)
                RoundTrips(client, message, 10_000);
        });
        Assert.True(allocated == 0, $"the loop threads allocated {allocated} bytes over {10_000 * reactors} echoes (beside {probes} for the probes)");
        foreach (TestClient client in clients)
            client.Dispose();
    }

    [Theory]
    [InlineData("line")]
    [InlineData("reverse")]
    public void LineProtocols_TenThousandLines_AllocateNothingOnTheLoopThread(string protocol)
    {
        IProtocolHandler handler = protocol == "line" ? new LineEchoHandler() : new ReverseHandler();
        using var server = new TestServer(handler);
        using var client = TestClient.Connect(server.Port);
        byte[] line = "안녕하세요, hello 👍🏽 e\u0301\n"u8.ToArray();
        byte[] expected = protocol == "line" ? line : "e\u0301 👍🏽 olleh ,요세하녕안\n"u8.ToArray();
        RoundTrips(client, line, 2_000, expected);

        (long allocated, long probes) = AllocatedOnLoops(server.Server, () => RoundTrips(client, line, 10_000, expected));
        Assert.True(allocated == 0, $"the loop thread allocated {allocated} bytes over 10,000 {protocol} lines (beside {probes} for the probes)");
    }

    // HTTP plaintext, kept alive: the head parsed in place, the answer written from scratch buffers, the Date header
    // made once a second. The exact bytes of each answer but its Date are compared.
    // With a chunked body (extensions, a trailer), each request's body is decoded and dropped, then answered.
    [Theory]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n")]
    public void HttpPlaintext_TenThousandRequests_AllocateNothingOnTheLoopThread(string raw)
    {
        using var server = new TestServer(new Protocols.Http.BenchmarkHttpHandler());
        using var client = TestClient.Connect(server.Port);
        byte[] request = System.Text.Encoding.ASCII.GetBytes(raw);
        client.Send(request);
        int answerLength = ReadAnswer(client).Length;   // its length stays: the Date header has a fixed width
        for (int i = 0; i < 2_000; i++)
            HttpRoundTrip(client, request, answerLength);

        (long allocated, long probes) = AllocatedOnLoops(server.Server, () =>
        {
            for (int i = 0; i < 10_000; i++)
                HttpRoundTrip(client, request, answerLength);
        });
        Assert.True(allocated == 0, $"the loop thread allocated {allocated} bytes over 10,000 requests (beside {probes} for the probes)");
    }

    private static void HttpRoundTrip(TestClient client, byte[] request, int answerLength)
    {
        client.Send(request);
        string answer = System.Text.Encoding.ASCII.GetString(client.ReceiveExactly(answerLength));
        Assert.StartsWith("HTTP/1.1 200 OK\r\nServer: epollserver\r\nDate: ", answer);
        Assert.EndsWith(" GMT\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!", answer);
    }

    private static byte[] ReadAnswer(TestClient client)
    {
        var answer = new List<byte>();
        while (!answer.AsEnumerable().Reverse().Take(13).Reverse().SequenceEqual("Hello, World!"u8.ToArray()))
            answer.AddRange(client.ReceiveExactly(1));
        return [.. answer];
    }

    // A chat message relayed to two readers: one copy into the message buffer, one write per reader, no allocation.
    // On three reactors each client has its own, and the message reaches the readers through the reactors' mail.
    // With a backplane, each message also leaves in the reactor's batch for other servers, and a line from another
    // server comes back for each one (EchoingBackplane): both ways allocate nothing on a loop thread either.
    [Theory]
    [InlineData(1, false)]
    [InlineData(3, false)]
    [InlineData(1, true)]
    [InlineData(3, true)]
    public void ChatRelay_TenThousandMessages_AllocatesNothingOnAnyLoopThread(int reactors, bool backplane)
    {
        using var server = new TestServer(reactors: reactors, handlers: ChatHandler.Factory(backplane: backplane ? new EchoingBackplane() : null));
        using var sender = TestClient.Connect(server.Port);
        string nick = sender.ReadLine()!.Split(' ')[7];
        using var a = TestClient.Connect(server.Port);
        a.ReadLine();
        sender.ReadLine();
        using var b = TestClient.Connect(server.Port);
        b.ReadLine();
        sender.ReadLine();
        a.ReadLine();
        Assert.All(server.Server.PerReactor, r => Assert.Equal(3 / reactors, r[Diagnostics.Counter.ConnectionsOpen]));
        string[] expected = backplane
            ? ["<elsewhere> a message of an ordinary length", $"<{nick}> a message of an ordinary length"]
            : [$"<{nick}> a message of an ordinary length"];
        void Relay(int count)
        {
            for (int i = 0; i < count; i++)
            {
                sender.Send("a message of an ordinary length\n");
                foreach (TestClient reader in new[] { a, b })
                    Assert.Equal(expected, expected.Select(_ => reader.ReadLine()!).Order(StringComparer.Ordinal));
            }
        }
        Relay(2_000);
        (long allocated, long probes) = AllocatedOnLoops(server.Server, () => Relay(10_000));
        Assert.True(allocated == 0, $"the loop threads allocated {allocated} bytes over 10,000 chat messages (beside {probes} for the probes)");
    }

    // A backplane standing in for other servers: each batch is queued to a task of its own (as a real backplane's
    // worker reads them), and every message in it comes back as if another server's member had said the same.
    private sealed class EchoingBackplane : IChatBackplane
    {
        private readonly System.Threading.Channels.Channel<ChatBatch> _batches = System.Threading.Channels.Channel.CreateUnbounded<ChatBatch>();
        private IChatBackplaneListener? _listener;

        public bool IsConnected => true;

        public IEnumerable<KeyValuePair<string, long>> Counters => [];

        public void Start(IChatBackplaneListener listener)
        {
            _listener = listener;
            _ = Task.Run(async () =>
            {
                await foreach (ChatBatch batch in _batches.Reader.ReadAllAsync())
                    Echo(batch);
            });
        }

        public void Publish(ChatBatch batch) => _batches.Writer.TryWrite(batch);

        private void Echo(ChatBatch batch)
        {
            var echoes = new List<(string Room, byte[] Line)>();
            for (int offset = 0; batch.TryRead(ref offset, out ReadOnlySpan<byte> room, out ReadOnlySpan<byte> line);)
            {
                if (line.StartsWith("<guest"u8))
                    echoes.Add((System.Text.Encoding.UTF8.GetString(room), [.. "<elsewhere>"u8, .. line[line.IndexOf((byte)' ')..]]));
            }
            batch.Release();
            foreach ((string room, byte[] line) in echoes)
                _listener!.Deliver(room, line);
        }

        public void Watch(string room, bool watching) { }

        public void Enter(string nick, string room) { }

        public void Move(string nick, string room) { }

        public void Leave(string nick) { }

        public void Rename(string from, string to, string room, Action<bool> answer) => answer(true);

        public void Who(string room, Action<IReadOnlyList<string>?> answer) => answer([]);

        public void Dispose() => _batches.Writer.TryComplete();
    }

    // The proxy's forwarding, both ways (client to upstream, upstream back to the client), allocates nothing either.
    [Fact]
    public void ProxyForwarding_TenThousandRoundTrips_AllocatesNothingOnTheLoopThread()
    {
        using var upstream = new TestServer();
        using var proxy = new TestServer(new ProxyHandler("127.0.0.1", upstream.Port));
        using var client = TestClient.Connect(proxy.Port);
        byte[] message = Patterns.For(43, 100);
        RoundTrips(client, message, 2_000);

        (long allocated, long probes) = AllocatedOnLoops(proxy.Server, () => RoundTrips(client, message, 10_000));
        Assert.True(allocated == 0, $"the proxy's loop thread allocated {allocated} bytes over 10,000 round trips (beside {probes} for the probes)");
    }

    private static void RoundTrips(TestClient client, byte[] message, int count, byte[]? expected = null)
    {
        expected ??= message;
        for (int i = 0; i < count; i++)
        {
            client.Send(message);
            Assert.Equal(expected, client.ReceiveExactly(expected.Length));
        }
    }

    // What every reactor thread has allocated so far, each read on its own thread by a probe made up front: its
    // delegate, its event and its slot exist before the measurement, so running it allocates nothing on the loop
    // (the queue entry of the post is made by the posting thread). Its own cost is still measured, apart: see
    // AllocatedOnLoops.
    private sealed class Probe
    {
        private readonly ManualResetEventSlim _done = new();
        private readonly Action _read;
        private long _bytes;

        public Probe() => _read = () =>
        {
            _bytes = GC.GetAllocatedBytesForCurrentThread();
            _done.Set();
        };

        public long Read(ReactorLoop reactor)
        {
            _done.Reset();
            reactor.Context.Loop.Post(_read);
            Assert.True(_done.Wait(TestClient.TimeoutMs), $"reactor {reactor.Index} did not answer");
            return _bytes;
        }
    }

    private static long LoopThreadsAllocatedBytes(Server server, Probe[] probes)
    {
        long total = 0;
        for (int i = 0; i < server.Reactors.Count; i++)
            total += probes[i].Read(server.Reactors[i]);
        return total;
    }

    // The loop threads' allocations over `work`, less the probes' own: the same reading taken around no work at all
    // just before. README: nothing but the probes, so the caller asserts 0.
    private static (long Work, long Probes) AllocatedOnLoops(Server server, Action work)
    {
        Probe[] probes = [.. server.Reactors.Select(_ => new Probe())];
        long idleStart = LoopThreadsAllocatedBytes(server, probes);
        long idleEnd = LoopThreadsAllocatedBytes(server, probes);
        work();
        long workEnd = LoopThreadsAllocatedBytes(server, probes);
        long probeCost = idleEnd - idleStart;
        return (workEnd - idleEnd - probeCost, probeCost);
    }
}
