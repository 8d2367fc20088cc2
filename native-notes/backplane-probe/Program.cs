// The backplane's Redis client, measured: N chat-sized lines (64 B) published from one thread, as the backplane's
// worker does, to a channel one subscriber on another connection reads, through
//   se.redis  StackExchange.Redis 3.4.35: PUBLISH fire-and-forget, a ChannelMessageQueue (ordered) on the subscriber;
//   raw-resp  a hand-written RESP client on System.Net.Sockets: PUBLISHes written 64 to a send, replies read on a
//             thread of their own; the subscriber parses the pushes itself. No reconnects, no back-off, no scripts,
//             nothing but the happy path: the most an own client could save.
// Interleaved rounds; the medians of publish rate, end-to-end rate (first publish to last delivery), delivery
// latency percentiles and this process's CPU per line (both sides). With RATE above 0 the lines are paced at RATE
// per second (latency as a chat user meets it; the pacing spins, so CPU is not reported then).
// Usage: dotnet run -c Release [-- ROUNDS LINES RATE]
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using StackExchange.Redis;

int rounds = args.Length > 0 ? int.Parse(args[0]) : 5;
int lines = args.Length > 1 ? int.Parse(args[1]) : 200_000;
double rate = args.Length > 2 ? double.Parse(args[2]) : 0;
int port = Random.Shared.Next(20_000, 60_000);
using var redis = Process.Start(new ProcessStartInfo("redis-server", ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
    { RedirectStandardOutput = true })!;
for (int i = 0; i < 100 && !CanConnect(port); i++)
    Thread.Sleep(50);
Console.WriteLine($"redis-server on 127.0.0.1:{port}; {lines:N0} lines of 64 B per round{(rate > 0 ? $" at {rate:N0}/s" : ", as fast as they go")}, {rounds} rounds, {Environment.ProcessorCount} CPUs");
var results = new Dictionary<string, List<Result>> { ["se.redis"] = [], ["raw-resp"] = [] };
for (int round = 0; round < rounds; round++)
{
    results["se.redis"].Add(await SeRedis(port, lines, rate));
    results["raw-resp"].Add(Raw(port, lines, rate));
}
Console.WriteLine("| client | publish lines/s | end-to-end lines/s | p50 µs | p99 µs | CPU µs per line |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|");
foreach ((string name, List<Result> r) in results)
{
    double Median(Func<Result, double> f) => r.Select(f).Order().ElementAt(r.Count / 2);
    Console.WriteLine($"| {name} | {Median(x => x.PublishRate):N0} | {Median(x => x.EndToEndRate):N0} | {Median(x => x.P50):N0} | {Median(x => x.P99):N0} | {(rate > 0 ? "(paced)" : Median(x => x.CpuPerLine).ToString("N2"))} |");
}
redis.Kill();
return 0;

static bool CanConnect(int port)
{
    try { using var s = new TcpClient("127.0.0.1", port); return true; } catch (SocketException) { return false; }
}

static byte[] Payload(long ticks)
{
    byte[] payload = new byte[64];
    Encoding.ASCII.GetBytes("0123456789abcdef<someone> a chat line of an ordinary length!!").CopyTo(payload, 0);
    BitConverter.TryWriteBytes(payload.AsSpan(56), ticks);
    return payload;
}

// Spins until the i-th line is due (rate 0: at once).
static void Pace(long start, int i, double rate)
{
    if (rate <= 0)
        return;
    long due = start + (long)(i / rate * Stopwatch.Frequency);
    while (Stopwatch.GetTimestamp() < due)
        Thread.SpinWait(20);
}

static async Task<Result> SeRedis(int port, int lines, double rate)
{
    var options = ConfigurationOptions.Parse($"127.0.0.1:{port}");
    using var publisher = await ConnectionMultiplexer.ConnectAsync(options);
    using var subscriber = await ConnectionMultiplexer.ConnectAsync(options);
    var latencies = new long[lines];
    int received = 0;
    var done = new TaskCompletionSource();
    ChannelMessageQueue queue = await subscriber.GetSubscriber().SubscribeAsync(RedisChannel.Literal("probe:se"));
    queue.OnMessage(message =>
    {
        byte[] payload = (byte[])message.Message!;
        latencies[received] = Stopwatch.GetTimestamp() - BitConverter.ToInt64(payload, 56);
        if (++received == lines)
            done.SetResult();
    });
    ISubscriber pub = publisher.GetSubscriber();
    RedisChannel channel = RedisChannel.Literal("probe:se");
    TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
    long start = Stopwatch.GetTimestamp();
    for (int i = 0; i < lines; i++)
    {
        Pace(start, i, rate);
        pub.Publish(channel, Payload(Stopwatch.GetTimestamp()), CommandFlags.FireAndForget);
    }
    long published = Stopwatch.GetTimestamp();
    await done.Task.WaitAsync(TimeSpan.FromSeconds(60));
    long end = Stopwatch.GetTimestamp();
    TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
    await queue.UnsubscribeAsync();
    return Result.From(lines, start, published, end, latencies, cpu);
}

static Result Raw(int port, int lines, double rate)
{
    using var pub = Connect(port);
    using var sub = Connect(port);
    byte[] channel = "probe:raw"u8.ToArray();
    sub.Send(Encoding.ASCII.GetBytes($"*2\r\n$9\r\nSUBSCRIBE\r\n${channel.Length}\r\n{Encoding.ASCII.GetString(channel)}\r\n"));
    var reader = new RespReader(sub);
    reader.SkipPush();   // the subscribe confirmation
    var latencies = new long[lines];
    var subscriberThread = new Thread(() =>
    {
        for (int i = 0; i < lines; i++)
        {
            ReadOnlySpan<byte> payload = reader.NextMessagePayload();
            latencies[i] = Stopwatch.GetTimestamp() - BitConverter.ToInt64(payload[56..]);
        }
    });
    var replies = new Thread(() =>
    {
        var r = new RespReader(pub);
        for (int i = 0; i < lines; i++)
            r.SkipLine();   // ":1"
    });
    TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
    subscriberThread.Start();
    replies.Start();
    long start = Stopwatch.GetTimestamp();
    var buffer = new MemoryStream();
    byte[] head = Encoding.ASCII.GetBytes($"*3\r\n$7\r\nPUBLISH\r\n${channel.Length}\r\n{Encoding.ASCII.GetString(channel)}\r\n$64\r\n");
    for (int i = 0; i < lines; i++)
    {
        Pace(start, i, rate);
        buffer.Write(head);
        buffer.Write(Payload(Stopwatch.GetTimestamp()));
        buffer.Write("\r\n"u8);
        if (rate > 0 || i % 64 == 63 || i == lines - 1)   // paced: each line as it is due
        {
            pub.Send(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
            buffer.SetLength(0);
        }
    }
    long published = Stopwatch.GetTimestamp();
    subscriberThread.Join();
    long end = Stopwatch.GetTimestamp();
    replies.Join();
    TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
    return Result.From(lines, start, published, end, latencies, cpu);
}

static Socket Connect(int port)
{
    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
    return socket;
}

sealed record Result(double PublishRate, double EndToEndRate, double P50, double P99, double CpuPerLine)
{
    public static Result From(int lines, long start, long published, long end, long[] latencies, TimeSpan cpu)
    {
        Array.Sort(latencies);
        double Micros(long ticks) => ticks * 1e6 / Stopwatch.Frequency;
        double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;
        return new Result(lines / Seconds(published - start), lines / Seconds(end - start), Micros(latencies[lines / 2]),
            Micros(latencies[(int)(lines * 0.99)]), cpu.TotalMicroseconds / lines);
    }
}

// Just enough RESP to read replies and pushes off a socket.
sealed class RespReader(Socket socket)
{
    private readonly byte[] _buffer = new byte[1 << 20];
    private int _start, _end;

    public void SkipLine() => Line();

    public void SkipPush()
    {
        int count = int.Parse(Encoding.ASCII.GetString(Line()[1..]));   // *3 (RESP2) or >3 (RESP3)
        for (int i = 0; i < count; i++)
            Element();
    }

    // A "message" push: *3 $7 message $N channel $N payload; the payload.
    public ReadOnlySpan<byte> NextMessagePayload()
    {
        Line();       // *3
        Element();    // message
        Element();    // channel
        return Element();
    }

    private ReadOnlySpan<byte> Element()
    {
        ReadOnlySpan<byte> line = Line();
        if (line[0] != (byte)'$')
            return line;
        int length = int.Parse(Encoding.ASCII.GetString(line[1..]));
        Fill(length + 2);
        var value = _buffer.AsSpan(_start, length);
        _start += length + 2;
        return value;
    }

    private ReadOnlySpan<byte> Line()
    {
        while (true)
        {
            int lf = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var line = _buffer.AsSpan(_start, lf - 1);
                _start += lf + 1;
                return line;
            }
            Fill(_end - _start + 1);
        }
    }

    private void Fill(int needed)
    {
        if (_end - _start >= needed)
            return;
        Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
        _end -= _start;
        _start = 0;
        while (_end < needed)
            _end += socket.Receive(_buffer, _end, _buffer.Length - _end, SocketFlags.None);
    }
}
