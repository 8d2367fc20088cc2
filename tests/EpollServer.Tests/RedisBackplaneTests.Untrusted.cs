// Redis as a peer, not a friend (a real redis-server, written to by the test as any Redis client could): forged,
// multi-line and control-laden payloads are dropped and counted as backplane-rejected; with --backplane-key, what is
// unsigned, tampered with or replayed is dropped too; a publish flood while a member does not read leaves the queue
// within its cap and the memory flat; a poisoned nickname key costs that nickname only; /who reads a bounded number
// of servers and only valid names.
using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using EpollServer.Backplane.Redis;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;
using StackExchange.Redis;

namespace EpollServer.Tests;

public sealed partial class RedisBackplaneTests
{
    private const string Key = "a shared secret of the test's, long enough";

    private static DaemonProcess KeyedDaemon(RedisProcess redis, string key = Key) =>
        DaemonProcess.Start($"--protocol chat --address 127.0.0.1 --port 0 --reactors 2 --backplane {redis.Url}",
            environment: new Dictionary<string, string> { ["EPOLLSERVER_BACKPLANE_KEY"] = key });

    [Fact]
    public void ForgedMultiLineAndControlPayloads_AreDropped_AndCountedAsRejected()
    {
        using var redis = RedisProcess.Start();
        using DaemonProcess daemon = Daemon(redis);
        using ChatUser alice = ChatUser.Join(daemon, "alice");
        alice.Who("lobby");   // subscribed
        using var publisher = ConnectionMultiplexer.Connect($"127.0.0.1:{redis.Port}");
        string[] forged =
        [
            "no shape at all", "*messages", "<bad nick> hi", "<mallory>", "<mallory> ", "* mallory",
            "<mallory> one\n<mallory> two", "<mallory> \u001B[2J\u001B[Hcleared", "<mallory> \u009B31mred", "<mal\u202Elory> hi",
            "<mallory> " + new string('x', 9000),
        ];
        long sequence = 0;
        Publish(publisher, "lobby", Payload("0123456789abcdef", ++sequence, "<mallory> first"));
        foreach (string line in forged)
            Publish(publisher, "lobby", Payload("0123456789abcdef", ++sequence, line));
        Publish(publisher, "lobby", Payload("0123456789abcdef", ++sequence, [.. "<mallory> "u8, 0xC3, 0x28]));   // not UTF-8
        Publish(publisher, "lobby", Payload("NOT-A-SERVER-ID!", ++sequence, "<mallory> from nowhere"));
        Publish(publisher, "lobby", "short"u8.ToArray());
        Publish(publisher, "lobby", Payload("0123456789abcdef", ++sequence, "<mallory> last"));

        Assert.Equal("<mallory> first", alice.NextWhere(l => l.StartsWith('<')));
        Assert.Equal("<mallory> last", alice.Next());   // nothing forged came in between, nor after a line of its own
        Wait.Until(() => Stat(daemon, "backplane-rejected") == forged.Length + 3, "every forged payload counted as rejected", 10_000);
        Assert.Equal(2, Stat(daemon, "backplane-received"));
    }

    [Fact]
    public void WithABackplaneKey_UnsignedTamperedAndReplayedLines_AreRejected_SignedOnesDelivered()
    {
        using var redis = RedisProcess.Start();
        using DaemonProcess d1 = KeyedDaemon(redis), d2 = KeyedDaemon(redis);
        using ChatUser alice = ChatUser.Join(d1, "alice"), bob = ChatUser.Join(d2, "bob");
        alice.NextWhere(l => l.EndsWith(" is now bob", StringComparison.Ordinal));   // d1 hears d2
        using var spy = ConnectionMultiplexer.Connect($"127.0.0.1:{redis.Port}");
        var captured = new TaskCompletionSource<byte[]>();
        spy.GetSubscriber().Subscribe(RedisChannel.Literal("epollserver:chat:room:lobby"), (_, message) =>
        {
            byte[] payload = (byte[])message!;
            if (Encoding.UTF8.GetString(payload).EndsWith("<bob> signed", StringComparison.Ordinal))
                captured.TrySetResult(payload);
        });
        alice.Who("lobby");
        bob.Send("signed");
        Assert.Equal("<bob> signed", alice.NextWhere(l => l.StartsWith('<')));
        Assert.True(captured.Task.Wait(TestClient.TimeoutMs), "the spy saw bob's payload");
        byte[] original = captured.Task.Result;

        byte[] tampered = [.. original];
        tampered[^1] ^= 0x01;   // "signee"
        byte[] wrongRoom = original;   // valid for #lobby only: published to #other it must not verify
        Publish(spy, "lobby", original);   // a replay: its sequence number is not above the last seen
        Publish(spy, "lobby", tampered);
        Publish(spy, "lobby", Payload("0123456789abcdef", long.MaxValue / 2, "<bob> unsigned, sent by anyone who can publish to this Redis"));
        alice.MoveTo("other");
        Publish(spy, "other", wrongRoom);
        bob.MoveTo("other");
        bob.Send("still signed");
        Assert.Equal("<bob> still signed", alice.NextWhere(l => l.StartsWith('<')));
        Wait.Until(() => Stat(d1, "backplane-rejected") == 4, "the replay, the tampered, the unsigned and the misdirected line rejected", 10_000);
    }

    [Fact]
    public void AServerWithAnotherKey_IsNotHeard()
    {
        using var redis = RedisProcess.Start();
        using DaemonProcess d1 = KeyedDaemon(redis), d2 = KeyedDaemon(redis, "another secret, just as long"), d3 = KeyedDaemon(redis);
        using ChatUser alice = ChatUser.Join(d1, "alice"), eve = ChatUser.Join(d2, "eve"), carol = ChatUser.Join(d3, "carol");
        alice.Who("lobby");
        eve.Send("can you hear me");
        carol.Send("after eve");
        Assert.Equal("<carol> after eve", alice.NextWhere(l => l.StartsWith('<')));
        Wait.Until(() => Stat(d1, "backplane-rejected") >= 1, "eve's line rejected", 10_000);
    }

    // A member that never reads, a reader that does, and a second connection publishing 200,000 lines (40 MB) as
    // fast as Redis takes them (its own limit on a subscriber's backlog lifted), twice: what waits for the reactors
    // stays within the cap (4,096 lines and 1 MiB a reactor, native-notes/limits.md), and the second flood, once the
    // first has warmed the JIT, the GC's budgets and the pools, leaves the daemon's RSS where it was.
    [Fact]
    public void APublishFlood_WhileAMemberDoesNotRead_StaysWithinTheCap_AndMemoryStaysFlat()
    {
        using var redis = RedisProcess.Start();
        redis.Cli("CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 0 0");
        // A 4 MiB gen0 budget (instead of one sized to the L3 cache), so that RSS follows what is live, not garbage;
        // and a 64 MiB heap, which a flood held anywhere in the daemon (80 MB as StackExchange.Redis's messages) exceeds.
        using var daemon = DaemonProcess.Start($"--protocol chat --address 127.0.0.1 --port 0 --reactors 2 --backplane {redis.Url}",
            environment: new Dictionary<string, string> { ["DOTNET_GCgen0size"] = "0x400000", ["DOTNET_GCHeapHardLimit"] = "0x4000000" });
        using var publisher = ConnectionMultiplexer.Connect($"127.0.0.1:{redis.Port}");
        Flood(daemon, publisher);
        long before = RssKiB(daemon.Pid);
        Flood(daemon, publisher);
        Wait.Until(() => Stat(daemon, "backplane-queued-lines") == 0, "the reactors have handed out what waited", 20_000);
        long growth = RssKiB(daemon.Pid) - before;
        long peakLines = Stat(daemon, "backplane-queued-peak-lines"), peakBytes = Stat(daemon, "backplane-queued-peak-bytes");
        Assert.True(peakLines <= 2 * 4096, $"{peakLines} lines waited, beyond the cap (2 reactors)");
        Assert.True(peakBytes <= 2 * 1024 * 1024, $"{peakBytes} bytes waited, beyond the cap (2 reactors)");
        Assert.True(growth < 48 * 1024, $"RSS grew by {growth} KiB under the second 40 MB flood (peak waiting: {peakLines} lines, {peakBytes} bytes)");
    }

    private static void Flood(DaemonProcess daemon, ConnectionMultiplexer publisher)
    {
        using ChatUser idle = ChatUser.Join(daemon);   // never reads after this
        idle.Who("lobby");
        using ChatUser reader = ChatUser.Join(daemon);
        reader.Who("lobby");
        Task<bool> readsToTheEnd = Task.Run(() => ReadsUntil(reader.Client, "<flood> done"));
        ISubscriber subscriber = publisher.GetSubscriber();
        RedisChannel lobby = RedisChannel.Literal("epollserver:chat:room:lobby");
        string padding = new('p', 180);
        long sequence = Interlocked.Add(ref _floodSequence, 200_001) - 200_001;
        for (int i = 0; i < 200_000; i++)
            subscriber.Publish(lobby, Payload("0123456789abcdef", ++sequence, $"<flood> {i:D6} {padding}"), CommandFlags.FireAndForget);
        subscriber.Publish(lobby, Payload("0123456789abcdef", ++sequence, "<flood> done"));   // answered once Redis has the rest
        Assert.True(readsToTheEnd.Wait(60_000), "the reader neither finished nor was disconnected within 60 s");
    }

    private static long _floodSequence;

    // False when the server disconnected the reader first (as a slow consumer: the flood goes on all the same).
    private static bool ReadsUntil(TestClient client, string last)
    {
        try
        {
            for (string? line = client.ReadLine(); line is not null; line = client.ReadLine())
            {
                if (line == last)
                    return true;
            }
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
        }
        return false;
    }

    // The heartbeat renews this server's presence even when one nickname's key is of the wrong type: that nickname
    // is lost (its holder becomes a guest, and is told), and the others stay listed on the other servers.
    [Fact]
    public void APoisonedNicknameKey_CostsThatNicknameOnly()
    {
        using var redis = RedisProcess.Start();
        using DaemonProcess d1 = Daemon(redis, ttlSeconds: 3), d2 = Daemon(redis, ttlSeconds: 3);
        using ChatUser alice = ChatUser.Join(d1, "alice"), amy = ChatUser.Join(d1, "amy"), bob = ChatUser.Join(d2, "bob");
        string server = redis.Cli("GET", "epollserver:chat:nick:amy");
        redis.Cli("DEL", "epollserver:chat:nick:alice");
        redis.Cli("RPUSH", "epollserver:chat:nick:alice", "not a server id");
        alice.NextWhere(l => l.StartsWith("* your nickname alice ", StringComparison.Ordinal), 10_000);
        // Two TTLs on: amy's membership would have expired had the heartbeat stopped at alice's key.
        double first = double.Parse(redis.Cli("ZSCORE", "epollserver:chat:servers", server), System.Globalization.CultureInfo.InvariantCulture);
        Wait.Until(() => double.Parse(redis.Cli("ZSCORE", "epollserver:chat:servers", server), System.Globalization.CultureInfo.InvariantCulture) > first + 6_000,
            "two TTLs of heartbeats", 20_000);
        List<string> who = bob.Who("lobby");
        Assert.Contains("amy", who);
        Assert.DoesNotContain("alice", who);
        Assert.Equal("list", redis.Cli("TYPE", "epollserver:chat:nick:alice"));   // not this server's to delete
    }

    // Thousands of "servers" listed in Redis, one with a huge member hash full of names no server writes: /who
    // answers, reads at most the cap's worth of hashes (counted by Redis itself), and lists only valid names.
    [Fact]
    public void WhoWithAHugeFakeServerSet_ReadsABoundedNumber_AndListsOnlyValidNames()
    {
        using var redis = RedisProcess.Start();
        using DaemonProcess d1 = Daemon(redis);
        using ChatUser bob = ChatUser.Join(d1, "bob");
        long now = long.Parse(redis.Cli("EVAL", "local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000)", "0"), System.Globalization.CultureInfo.InvariantCulture);
        redis.Cli("EVAL", "for i = 1, 20000 do redis.call('ZADD', KEYS[1], ARGV[1], string.format('%016x', i)) end return 1", "1",
            "epollserver:chat:servers", now.ToString(System.Globalization.CultureInfo.InvariantCulture));
        redis.Cli("ZADD", "epollserver:chat:servers", (now + 60_000).ToString(System.Globalization.CultureInfo.InvariantCulture), "ffffffffffffffff");
        redis.Cli("EVAL", "for i = 1, 50000 do redis.call('HSET', KEYS[1], 'n' .. i, 'lobby\\nbad name ' .. i) end return 1", "1", "epollserver:chat:server:ffffffffffffffff");
        foreach (string name in new[] { "mallory", "mal\u202Eory", "\u3164", "x\u001B[2J", "", "far_too_long_a_nickname" })
            redis.Cli("HSET", "epollserver:chat:server:ffffffffffffffff", "z" + name, "lobby\n" + name);
        redis.Cli("CONFIG", "RESETSTAT");

        List<string> who = bob.Who("lobby");
        Assert.Equal(["bob (you)"], who.Where(n => n != "mallory" && !n.StartsWith("bad name", StringComparison.Ordinal)));
        Assert.DoesNotContain(who, n => n.StartsWith("bad name", StringComparison.Ordinal));
        string stats = redis.Cli("INFO", "commandstats");
        long hashReads = HashReads(stats);
        Assert.True(hashReads <= RedisChatBackplane.MaxServersAsked + RedisChatBackplane.MaxEntriesPerServer / 100, $"/who read {hashReads} hashes or pages:\n{stats}");
    }

    // The fold that makes the Kelvin sign and 'k' one name in the directory keys them in Redis too.
    [Fact]
    public void KelvinSignAndK_AreOneNickname_AcrossDaemons()
    {
        using var redis = RedisProcess.Start();
        using DaemonProcess d1 = Daemon(redis), d2 = Daemon(redis);
        using ChatUser kelvin = ChatUser.Join(d1, "\u212Aate"), other = ChatUser.Join(d2);
        Assert.Matches("^[0-9a-f]{16}$", redis.Cli("GET", "epollserver:chat:nick:kate"));
        other.Send("/nick kate");
        Assert.Equal("ERR nickname 'kate' is taken", other.AnswerToNick("kate"));
        other.Send("/nick KATE");
        Assert.Equal("ERR nickname 'KATE' is taken", other.AnswerToNick("KATE"));
    }

    // A /who whose answer takes long (its callback held here, as a slow Redis would hold the reads) does not hold up
    // a line published after it: /who runs beside the worker, not in front of it.
    [Fact]
    public void ASlowWho_DoesNotHoldUpPublishing()
    {
        using var redis = RedisProcess.Start();
        using var backplane = new RedisChatBackplane(RedisEndpoint.Parse(redis.Url), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        backplane.Start(new SilentListener());
        Assert.True(backplane.IsConnected);
        using var spy = ConnectionMultiplexer.Connect($"127.0.0.1:{redis.Port}");
        var published = new TaskCompletionSource<string>();
        spy.GetSubscriber().Subscribe(RedisChannel.Literal("epollserver:chat:room:lobby"), (_, m) => published.TrySetResult(Encoding.UTF8.GetString(((byte[])m!)[24..])));
        using var gate = new ManualResetEventSlim();
        var answered = new TaskCompletionSource();
        backplane.Who("lobby", _ =>
        {
            answered.SetResult();
            gate.Wait(TestClient.TimeoutMs * 3);
        });
        Assert.True(answered.Task.Wait(TestClient.TimeoutMs), "the /who was answered");
        var pool = new System.Collections.Concurrent.ConcurrentQueue<ChatBatch>();
        ChatBatch batch = ChatBatch.Rent(pool);
        batch.Append("lobby"u8, "<alice> behind a slow /who"u8);
        backplane.Publish(batch);
        try
        {
            Assert.True(published.Task.Wait(TestClient.TimeoutMs), "the line was not published while the /who was still answering");
            Assert.Equal("<alice> behind a slow /who", published.Task.Result);
        }
        finally
        {
            gate.Set();
        }
    }

    private sealed class SilentListener : IChatBackplaneListener
    {
        public bool Deliver(string room, ReadOnlySpan<byte> line) => true;

        public void Overflowed(string room) { }

        public void ConnectionChanged(bool connected) { }

        public void NickLost(string nick) { }
    }

    private static long HashReads(string commandStats) =>
        Regex.Matches(commandStats, @"cmdstat_(hgetall|hscan|hget|hkeys|hvals):calls=(\d+)").Sum(m => long.Parse(m.Groups[2].Value));

    // origin (16 characters), sequence number (8 bytes, big-endian), line: a payload as a server without a key sends it.
    private static byte[] Payload(string origin, long sequence, string line) => Payload(origin, sequence, Encoding.UTF8.GetBytes(line));

    private static byte[] Payload(string origin, long sequence, byte[] line)
    {
        byte[] payload = new byte[16 + 8 + line.Length];
        Encoding.ASCII.GetBytes(origin).CopyTo(payload, 0);
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(16), sequence);
        line.CopyTo(payload, 24);
        return payload;
    }

    private static void Publish(ConnectionMultiplexer redis, string room, byte[] payload) =>
        redis.GetSubscriber().Publish(RedisChannel.Literal("epollserver:chat:room:" + room), payload);

    // A handler counter from a fresh stats line (SIGUSR1).
    private static long Stat(DaemonProcess daemon, string name)
    {
        var line = new Regex("stats: .*" + Regex.Escape(name) + @"=(\d+)");
        int before = daemon.Lines.Count(l => line.IsMatch(l));
        daemon.Signal(DaemonProcess.SIGUSR1);
        return long.Parse(line.Match(daemon.WaitForLine(line, skip: before)).Groups[1].Value);
    }

    private static long RssKiB(int pid) =>
        long.Parse(Regex.Match(File.ReadAllText($"/proc/{pid}/status"), @"VmRSS:\s+(\d+) kB").Groups[1].Value);
}
