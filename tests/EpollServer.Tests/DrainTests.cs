// A graceful stop serves every byte it has read. Property tests over random ring sizes (any valid pair), random
// numbers of clients, random payloads and random moments of the stop, for echo, line and reverse: with a deadline
// long enough, every byte the server received is sent back before its FIN and each client gets exactly the answer
// to what it sent; when the deadline cuts the drain short, what was received but not sent back is exactly what the
// deadline's log line reports (unsent output plus input read but not served). Chat: every message relayed to a
// member before the stop reaches it. Each failure names the seed that reproduces it.
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using EpollServer.Diagnostics;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace EpollServer.Tests;

public sealed partial class DrainTests
{
    private const int Rounds = 12;

    // Each protocol on one reactor and on three (where every reactor drains under the one deadline).
    public static TheoryData<string, int> Protocols => new() { { "echo", 1 }, { "echo", 3 }, { "line", 1 }, { "line", 3 }, { "reverse", 1 }, { "reverse", 3 } };

    [Theory]
    [MemberData(nameof(Protocols))]
    public void LongDeadline_EveryByteReadIsAnswered_WhateverTheRingsClientsAndMoment(string protocol, int reactors)
    {
        for (int round = 0; round < Rounds; round++)
        {
            var shape = Shape.Random(protocol, seed: round * 1009 + protocol.Length);
            using var server = shape.Start(reactors, o => o.ShutdownTimeout = TimeSpan.FromMinutes(2));
            var clients = shape.Clients.Select(payload => Client.Run(server.Port, payload, readLimit: long.MaxValue, giveUpAfterMs: 60_000)).ToList();
            long stopAt = shape.StopAfterBytes;
            Wait.Until(() => clients.Sum(c => c.Received) >= stopAt || clients.All(c => c.Done), $"{shape}: {stopAt} bytes answered", 60_000);
            server.Server.Stop();
            Assert.True(server.Server.Completion.Wait(TimeSpan.FromSeconds(60)), $"{shape}: the drain did not finish");
            Assert.True(Task.WaitAll([.. clients.Select(c => c.Finished)], 60_000), $"{shape}: a client did not see EOF");

            Assert.DoesNotContain(server.Log.Lines, l => l.Contains("drain deadline", StringComparison.Ordinal));
            var stats = server.Server.Stats;
            Assert.True(stats[Counter.BytesReceived] == stats[Counter.BytesSent], $"{shape}: received {stats[Counter.BytesReceived]} bytes, sent {stats[Counter.BytesSent]} back");
            Assert.Equal(stats[Counter.BytesSent], clients.Sum(c => c.Received));
            foreach (Client client in clients)
                shape.AssertAnswers(client);
        }
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void DeadlineCutsTheDrainShort_WhatWasNotAnsweredIsExactlyWhatTheLogReports(string protocol, int reactors)
    {
        int roundsWithUnserved = 0;
        for (int round = 0; round < Rounds; round++)
        {
            var shape = Shape.Random(protocol, seed: 50_000 + round * 1009 + protocol.Length, maxPayload: 1024 * 1024);
            using var server = shape.Start(reactors, o => o.ShutdownTimeout = TimeSpan.FromSeconds(5), new FakeTimeProvider());
            // Readers that stop at a random point, with small receive buffers: the server's output fills, and its input
            // backs up behind it.
            var random = new Random(shape.Seed);
            var clients = shape.Clients.Select(payload =>
                Client.Connect(server.Port, payload, readLimit: random.Next(0, payload.Length / 4 + 1), giveUpAfterMs: 200, receiveBuffer: 4096)).ToList();
            ShrinkServerSendBuffers(server, clients.Count);
            clients.ForEach(c => c.Start());
            Wait.Until(() => clients.All(c => c.SendingStopped), $"{shape}: every sender is done or blocked", 60_000);
            server.Server.Stop();
            // The deadline is set when the loop begins the stop (posted by Stop, so before this barrier): only after
            // that does moving the clock reach it.
            Assert.True(Task.WhenAny(server.Server.AfterDueTimersAsync(), server.Server.Completion).Wait(30_000), "the stop did not begin");
            server.Advance(TimeSpan.FromSeconds(5));
            Assert.True(server.Server.Completion.Wait(TimeSpan.FromSeconds(30)), $"{shape}: the deadline did not end the stop");

            var stats = server.Server.Stats;
            // One deadline line per reactor that still had connections.
            MatchCollection deadlines = DeadlineLine().Matches(string.Join('\n', server.Log.Lines));
            long unsent = deadlines.Sum(m => long.Parse(m.Groups["unsent"].Value));
            long unserved = deadlines.Sum(m => long.Parse(m.Groups["unserved"].Value));
            Assert.True(stats[Counter.BytesReceived] == stats[Counter.BytesSent] + unsent + unserved,
                $"{shape}: received {stats[Counter.BytesReceived]}, sent {stats[Counter.BytesSent]}, reported unsent {unsent} and unserved {unserved}");
            roundsWithUnserved += unserved > 0 ? 1 : 0;
            foreach (Client client in clients)
                client.ReadOn();
            Assert.True(Task.WaitAll([.. clients.Select(c => c.Finished)], 60_000), $"{shape}: a client did not see the end");
            foreach (Client client in clients)
                shape.AssertAnswers(client, cutShort: true);
        }
        // The rounds are meant to catch the drain with input still waiting behind a full output.
        Assert.True(roundsWithUnserved >= 2, $"only {roundsWithUnserved} of {Rounds} rounds left input unserved at the deadline");
    }

    // Chat members that stopped reading: every message relayed to them before the stop is in their output, and
    // each one reaches them once they read, in each sender's order.
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void Chat_EveryMessageRelayedBeforeTheStop_IsDelivered(int reactors)
    {
        for (int round = 0; round < Rounds / 2; round++)
        {
            var random = new Random(90_000 + round);
            int members = random.Next(2, 7), messages = random.Next(1, 40);
            using var server = new TestServer(reactors: reactors, handlers: ChatHandler.Factory(), configure: o => o.ShutdownTimeout = TimeSpan.FromMinutes(2));
            var clients = Enumerable.Range(0, members).Select(_ => TestClient.Connect(server.Port)).ToList();
            server.WaitUntil(s => s.OpenConnections == members, "every member accepted");
            for (int i = 0; i < members; i++)
                clients[i].Send(string.Concat(Enumerable.Range(0, messages).Select(m => $"m{i}-{m}\n")));
            server.WaitUntil(_ => server.HandlerCounter("messages-relayed") == members * messages, "every message relayed");
            server.Server.Stop();
            for (int r = 0; r < members; r++)
            {
                var received = ReadToEnd(clients[r]).Where(l => !l.StartsWith("* ", StringComparison.Ordinal)).ToList();
                clients[r].Dispose();   // our FIN: the server's lingering close need not wait for its timeout
                for (int s = 0; s < members; s++)
                {
                    if (s == r)
                        continue;
                    var fromSender = received.Select(l => l[(l.IndexOf("> ", StringComparison.Ordinal) + 2)..])
                        .Where(text => text.StartsWith($"m{s}-", StringComparison.Ordinal));
                    Assert.Equal(Enumerable.Range(0, messages).Select(m => $"m{s}-{m}"), fromSender);
                }
            }
            Assert.True(server.Server.Completion.Wait(TimeSpan.FromSeconds(60)), "the chat server did not stop");
            Assert.DoesNotContain(server.Log.Lines, l => l.Contains("drain deadline", StringComparison.Ordinal));
        }
    }

    // Loopback send buffers grow to megabytes, which would take everything the server writes: a test-only setsockopt on
    // the server's connections (SO_SNDBUF also stops the kernel's autotuning) makes its output ring the place that
    // fills, as it does on a real network with a slow reader.
    private static void ShrinkServerSendBuffers(TestServer server, int connections)
    {
        server.WaitUntil(s => s.OpenConnections == connections, "every client accepted");
        foreach (int fd in server.Server.GetFdReportAsync().Result.ConnectionFds)
            Assert.True(EpollServer.Interop.Sys.SetSockOpt(fd, EpollServer.Interop.Libc.SOL_SOCKET, EpollServer.Interop.Libc.SO_SNDBUF, 4096).Ok);
    }

    private static List<string> ReadToEnd(TestClient client)
    {
        var lines = new List<string>();
        while (client.ReadLine() is { } line)
            lines.Add(line);
        return lines;
    }

    [GeneratedRegex(@"drain deadline reached: closing \d+ connections with (?<unsent>\d+) bytes unsent and (?<unserved>\d+) bytes read but not served")]
    private static partial Regex DeadlineLine();

    // One random configuration: ring sizes, the handler and its line limit, the clients' payloads, when to stop.
    private sealed record Shape(string Protocol, int Seed, int InputBuffer, int OutputBuffer, int MaxLine, List<byte[]> Clients, long StopAfterBytes)
    {
        public static Shape Random(string protocol, int seed, int maxPayload = 256 * 1024)
        {
            var random = new Random(seed);
            int input = 1 << random.Next(8, 17), output = 1 << random.Next(8, 17);   // 256 B .. 64 KiB each
            // What the daemon enforces for line protocols: a line shorter than the input ring, a quarter of the output.
            int maxLine = Math.Min(input - 1, output / 4);
            var clients = Enumerable.Range(0, random.Next(1, 9))
                .Select(_ => protocol == "echo" ? RandomBytes(random, random.Next(1, maxPayload)) : RandomLines(random, random.Next(1, maxPayload), maxLine))
                .ToList();
            long total = clients.Sum(c => (long)c.Length);
            return new Shape(protocol, seed, input, output, maxLine, clients, (long)(total * random.NextDouble() * 0.9));
        }

        public TestServer Start(int reactors, Action<ServerOptions> configure, FakeTimeProvider? clock = null)
        {
            Func<IProtocolHandler> handlers = Protocol switch
            {
                "echo" => () => new EchoHandler(),
                "line" => () => new LineEchoHandler(MaxLine),
                _ => () => new ReverseHandler(MaxLine),
            };
            return new TestServer(reactors: reactors, handlers: handlers, configure: o =>
            {
                o.InputBufferSize = InputBuffer;
                o.OutputBufferSize = OutputBuffer;
                o.LingerTimeout = TimeSpan.FromMinutes(1);   // the clients' FIN always comes first
                configure(o);
            }, clock: clock);
        }

        // What the client got back is the start of the answer to what it sent; line protocols answer whole lines,
        // unless the deadline's reset cut the answer short.
        public void AssertAnswers(Client client, bool cutShort = false)
        {
            byte[] sent = client.Sent, received = client.ReceivedBytes;
            Assert.True(received.Length <= sent.Length, $"{this}: {received.Length} bytes back for {sent.Length} sent");
            int lineEnd = received.Length == 0 ? 0 : sent.AsSpan(received.Length - 1).IndexOf((byte)'\n') is int nl and >= 0 ? received.Length + nl : sent.Length;
            byte[] expected = Protocol == "reverse" ? ReverseLines(sent.AsSpan(0, lineEnd))[..received.Length] : sent[..received.Length];
            Assert.True(expected.AsSpan().SequenceEqual(received), $"{this}: the answer differs from what was sent");
            if (Protocol != "echo" && received.Length > 0 && !cutShort)
                Assert.True(received[^1] == (byte)'\n', $"{this}: the answer ends inside a line");
        }

        public override string ToString() =>
            $"{Protocol} seed {Seed}: input {InputBuffer}, output {OutputBuffer}, max line {MaxLine}, {Clients.Count} clients, stop after {StopAfterBytes} bytes";

        private static byte[] RandomBytes(Random random, int length)
        {
            var bytes = new byte[length];
            random.NextBytes(bytes);
            return bytes;
        }

        private static byte[] RandomLines(Random random, int length, int maxLine)
        {
            var text = new StringBuilder(length + maxLine);
            while (text.Length < length)
            {
                int line = random.Next(0, maxLine + 1);
                for (int i = 0; i < line; i++)
                    text.Append((char)('a' + random.Next(26)));
                text.Append('\n');
            }
            return Encoding.ASCII.GetBytes(text.ToString());
        }

        private static byte[] ReverseLines(ReadOnlySpan<byte> text)
        {
            byte[] reversed = text.ToArray();
            int start = 0;
            for (int i = 0; i <= reversed.Length; i++)
            {
                if (i < reversed.Length && reversed[i] != (byte)'\n')
                    continue;
                reversed.AsSpan(start, i - start).Reverse();
                start = i + 1;
            }
            return reversed;
        }
    }

    // One client: a sender thread that sends its payload in random chunks until done, blocked (not writable for
    // giveUpAfterMs: the server stopped reading) or answered with the server's FIN, then half-closes; a reader thread
    // that reads to EOF, or pauses at readLimit bytes until ReadOn.
    private sealed class Client
    {
        private readonly TestClient _socket;
        private readonly byte[] _payload;
        private readonly MemoryStream _received = new();
        private readonly ManualResetEventSlim _readOn = new();
        private readonly long _readLimit;
        private int _sent;
        private volatile bool _sendingStopped;
        private volatile bool _eof;

        private readonly int _giveUpAfterMs;

        private Client(TestClient socket, byte[] payload, long readLimit, int giveUpAfterMs)
        {
            _socket = socket;
            _payload = payload;
            _readLimit = readLimit;
            _giveUpAfterMs = giveUpAfterMs;
        }

        public Task Finished { get; private set; } = Task.CompletedTask;

        public long Received => Interlocked.Read(ref _receivedCount);

        private long _receivedCount;

        public bool SendingStopped => _sendingStopped;

        public bool Done => _eof;

        public byte[] Sent => _payload[..Volatile.Read(ref _sent)];

        public byte[] ReceivedBytes
        {
            get
            {
                lock (_received)
                    return _received.ToArray();
            }
        }

        public static Client Run(int port, byte[] payload, long readLimit, int giveUpAfterMs)
        {
            Client client = Connect(port, payload, readLimit, giveUpAfterMs);
            client.Start();
            return client;
        }

        public static Client Connect(int port, byte[] payload, long readLimit, int giveUpAfterMs, int? receiveBuffer = null)
        {
            var client = new Client(TestClient.Connect(port, receiveBuffer: receiveBuffer), payload, readLimit, giveUpAfterMs);
            client._socket.Socket.Blocking = false;   // both threads wait in Poll, so no call can block half-done
            return client;
        }

        public void Start()
        {
            Task sending = Task.Factory.StartNew(Send, TaskCreationOptions.LongRunning);
            Task reading = Task.Factory.StartNew(Read, TaskCreationOptions.LongRunning);
            Finished = Task.WhenAll(sending, reading).ContinueWith(_ => _socket.Dispose(), TaskScheduler.Default);
        }

        public void ReadOn() => _readOn.Set();

        private void Send()
        {
            var random = new Random(_payload.Length);
            while (_sent < _payload.Length && !_eof)
            {
                // Blocked means the socket stays unwritable: its buffer is full because the server stopped reading.
                if (!_socket.Socket.Poll(_giveUpAfterMs * 1000, SelectMode.SelectWrite))
                    break;
                int chunk = Math.Min(random.Next(1, 8 * 1024), _payload.Length - _sent);
                int n = _socket.Socket.Send(_payload, _sent, chunk, SocketFlags.None, out SocketError error);
                if (error == SocketError.WouldBlock)
                    continue;
                if (error != SocketError.Success)
                    break;   // reset at the deadline: what counts is what was sent before
                Volatile.Write(ref _sent, _sent + n);
            }
            if (_sent == _payload.Length)
                _socket.Socket.Shutdown(SocketShutdown.Send);
            _sendingStopped = true;
        }

        private void Read()
        {
            var buffer = new byte[64 * 1024];
            while (true)
            {
                if (_received.Length >= _readLimit)
                    _readOn.Wait();
                if (!_socket.Socket.Poll(60_000_000, SelectMode.SelectRead))
                    break;   // a minute without the server's answer or FIN: the checks that follow fail
                int n = _socket.Socket.Receive(buffer, 0, buffer.Length, SocketFlags.None, out SocketError error);
                if (error == SocketError.WouldBlock)
                    continue;
                if (error != SocketError.Success || n == 0)
                    break;   // EOF, or reset at the deadline with bytes unread; what arrived before is still checked
                lock (_received)
                    _received.Write(buffer, 0, n);
                Interlocked.Add(ref _receivedCount, n);
            }
            _eof = true;
        }
    }
}
