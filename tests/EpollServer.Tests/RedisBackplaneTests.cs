// Chat across daemons through a real redis-server (--backplane): rooms spanning three daemons with every sender's
// lines in order, /who and notices across them, a nickname race between two daemons (one wins), a daemon killed
// with SIGKILL (its clients cut off, the rest carry on, its nicknames free after the TTL), Redis restarted
// mid-conversation (one notice each way, local chat on, delivery resumed, the drops counted), Redis frozen (no
// reactor stalls), Redis absent at start-up, and the option's errors.
using System.Text.RegularExpressions;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

[Collection(LoadCollection.Name)]
public sealed partial class RedisBackplaneTests
{
    private static DaemonProcess Daemon(RedisProcess redis, int ttlSeconds = 15) =>
        DaemonProcess.Start($"--protocol chat --address 127.0.0.1 --port 0 --reactors 2 --backplane {redis.Url} --backplane-ttl {ttlSeconds}");

    [Fact]
    public void ARoomSpansThreeDaemons_EverySendersLinesArriveInOrder_AndWhoListsEveryone()
    {
        using var redis = RedisProcess.Start();
        using DaemonProcess d1 = Daemon(redis), d2 = Daemon(redis), d3 = Daemon(redis);
        using ChatUser alice = ChatUser.Join(d1, "alice"), bob = ChatUser.Join(d2, "bob"), carol = ChatUser.Join(d3, "carol");
        alice.MoveTo("talk");
        bob.MoveTo("talk");
        alice.Expect("* bob joined #talk");
        carol.MoveTo("talk");
        alice.Expect("* carol joined #talk");
        bob.Expect("* carol joined #talk");
        Assert.Equal(["alice", "bob", "carol (you)"], carol.Who("talk"));

        const int Lines = 300;
        var senders = new[] { (alice, "a"), (bob, "b") }.Select(s => Task.Run(() =>
        {
            for (int i = 0; i < Lines; i++)
                s.Item1.Send($"{s.Item2}{i}");
        })).ToArray();
        Task.WaitAll(senders);
        Assert.Equal(Expected("alice", "a", Lines), bob.Messages("<alice> ", Lines));
        Assert.Equal(Expected("bob", "b", Lines), alice.Messages("<bob> ", Lines));
        List<string> both = carol.Messages("<", 2 * Lines);
        Assert.Equal(Expected("alice", "a", Lines), both.Where(l => l.StartsWith("<alice> ", StringComparison.Ordinal)));
        Assert.Equal(Expected("bob", "b", Lines), both.Where(l => l.StartsWith("<bob> ", StringComparison.Ordinal)));

        // Nobody got their own lines back: the next thing each reads is the answer to its next command.
        alice.Send("/who");
        Assert.Matches(@"^\* in #talk \(3\): ", alice.Next());
        carol.Send("/me waves");
        alice.Expect("* carol waves");
        bob.Expect("* carol waves");
    }

    [Fact]
    public void TwoDaemonsRaceForOneNickname_ExactlyOneWins()
    {
        using var redis = RedisProcess.Start();
        using DaemonProcess d1 = Daemon(redis), d2 = Daemon(redis);
        using ChatUser x = ChatUser.Join(d1), y = ChatUser.Join(d2);
        for (int round = 0; round < 5; round++)
        {
            string nick = $"zed{round}";
            x.Send($"/nick {nick}");
            y.Send($"/nick {nick}");
            string[] answers = [x.AnswerToNick(nick), y.AnswerToNick(nick)];
            Assert.Single(answers, a => a == $"* you are now {nick}");
            Assert.Single(answers, a => a == $"ERR nickname '{nick}' is taken");
            Assert.Matches("^[0-9a-f]{16}$", redis.Cli("GET", $"epollserver:chat:nick:{nick}"));   // a server's id
        }
    }

    // /nick waits for every server's answer; the lines sent behind it wait too, and go out under the new name.
    [Fact]
    public void LinesSentRightAfterNick_GoOutUnderTheNewName_InOrder()
    {
        using var redis = RedisProcess.Start();
        using DaemonProcess d1 = Daemon(redis), d2 = Daemon(redis);
        using ChatUser x = ChatUser.Join(d1), y = ChatUser.Join(d2);
        x.NextWhere(l => l == $"* {y.Nick} joined #lobby");   // d1 hears d2's room
        x.Client.Send("/nick quick\nfirst\nsecond\n");
        Assert.Equal($"* {x.Nick} is now quick", y.NextWhere(l => l.Contains(" is now ", StringComparison.Ordinal) || l.StartsWith('<')));
        Assert.Equal("<quick> first", y.Next());
        Assert.Equal("<quick> second", y.Next());
    }

    [Fact]
    public void ADaemonKilled_CutsOffItsClients_TheOthersCarryOn_AndItsNicknameIsFreeAfterTheTtl()
    {
        using var redis = RedisProcess.Start();
        using DaemonProcess d1 = Daemon(redis, ttlSeconds: 5), d2 = Daemon(redis, ttlSeconds: 5), d3 = Daemon(redis, ttlSeconds: 5);
        using ChatUser alice = ChatUser.Join(d1, "alice"), bob = ChatUser.Join(d2, "bob"), carol = ChatUser.Join(d3, "carol");
        Assert.Contains("alice", bob.Who("lobby"));

        d1.Signal(9);
        Assert.True(alice.ReadsToEnd());   // its connection is gone with it
        bob.Send("/nick alice");
        Assert.Equal("ERR nickname 'alice' is taken", bob.AnswerToNick("alice"));   // held until the TTL runs out
        bob.Send("still here");
        carol.Expect("<bob> still here");

        // Within the TTL (5 s) and a heartbeat, the name and the membership are gone.
        Wait.Until(() => !bob.Who("lobby").Contains("alice"), "alice is no longer listed", 15_000);
        Wait.Until(() =>
        {
            bob.Send("/nick alice");
            return bob.AnswerToNick("alice") == "* you are now alice";
        }, "bob can take the dead daemon's nickname", 15_000);
        carol.Expect("* bob is now alice");
    }

    [Fact]
    public void RedisRestarted_EveryoneIsToldOnceEachWay_LocalChatGoesOn_AndDeliveryResumes()
    {
        using var two = new TwoDaemons();
        (RedisProcess redis, DaemonProcess d1, ChatUser a, ChatUser a2, ChatUser b) = (two.Redis, two.D1, two.Ann, two.Abe, two.Bea);
        redis.Stop();
        foreach (ChatUser user in new[] { a, a2, b })
            user.Expect(ChatHandler.BackplaneLostNotice);
        a.Send("only here");
        a2.Expect("<ann> only here");   // chat on one daemon does not need Redis

        redis.StartAgain();
        foreach (ChatUser user in new[] { a, a2, b })
            Assert.DoesNotContain(ChatHandler.BackplaneLostNotice, user.LinesUntil(ChatHandler.BackplaneBackNotice, 20_000));
        // Resubscribed: lines cross daemons again (the first may beat the subscription, so ask until one arrives).
        int attempt = 0;
        Wait.Until(() =>
        {
            a.Send($"again {attempt++}");
            return b.TryNextWithin(500) is { } line && line.StartsWith("<ann> again", StringComparison.Ordinal);
        }, "a line from d1 reaches d2 after the restart", 20_000);

        d1.Signal(DaemonProcess.SIGTERM);
        Assert.Equal(0, d1.WaitForExit());
        string stopped = d1.WaitForLine(new Regex("stopped: "));
        Assert.True(long.Parse(Regex.Match(stopped, @"backplane-dropped=(\d+)").Groups[1].Value) >= 1, stopped);
    }

    [Fact]
    public void RedisFrozen_NoReactorStalls_AndWhoSaysOtherServersCannotBeReached()
    {
        using var two = new TwoDaemons();
        (RedisProcess redis, ChatUser a, ChatUser a2) = (two.Redis, two.Ann, two.Abe);
        redis.Freeze();
        try
        {
            for (int i = 0; i < 100; i++)
                a.Send($"line {i}");
            Assert.Equal([.. Enumerable.Range(0, 100).Select(i => $"<ann> line {i}")], a2.Messages("<ann> ", 100));
            a2.Send("/who");
            Assert.Matches(@"^\* in #lobby \(2\): .*\(other servers cannot be reached\)$", a2.NextWhere(l => l.StartsWith("* in #", StringComparison.Ordinal), 20_000));
        }
        finally
        {
            redis.Thaw();
        }
    }

    [Fact]
    public void RedisAbsentAtStartup_ChatStartsWithoutIt_AndJoinsItWhenItComes()
    {
        using var redis = RedisProcess.Start();
        redis.Stop();
        using DaemonProcess d1 = Daemon(redis);
        using ChatUser a = ChatUser.Join(d1, expectBackplaneDown: true);
        redis.StartAgain();
        a.Expect(ChatHandler.BackplaneBackNotice, 20_000);
        using DaemonProcess d2 = Daemon(redis);
        using ChatUser b = ChatUser.Join(d2);
        a.Expect($"* {b.Nick} joined #lobby");
    }

    [Theory]
    [InlineData("--protocol echo --backplane redis://127.0.0.1:6379", "--backplane is for --protocol chat, not echo")]
    [InlineData("--protocol chat --backplane http://127.0.0.1:6379", "is not redis[s]://[USER:PASSWORD@]HOST[:PORT][/DB]")]
    [InlineData("--protocol chat --backplane redis://127.0.0.1:6379/x", "the database must be a number")]
    [InlineData("--protocol chat --backplane redis://127.0.0.1 --backplane-ttl 1", "--backplane-ttl")]
    [InlineData("--protocol chat --backplane redis://127.0.0.1 --backplane-key tooShort15chars", "--backplane-key must be at least 16 characters")]
    [InlineData("--protocol chat --backplane redis://127.0.0.1 --backplane-ca-file /etc/hostname", "--backplane-ca-file is for rediss:// (TLS) only")]
    [InlineData("--protocol chat --backplane rediss://127.0.0.1 --backplane-ca-file /nonexistent/ca.pem", "--backplane-ca-file /nonexistent/ca.pem does not exist")]
    [InlineData("--protocol chat --backplane-key a-long-enough-secret-key", "--backplane-key and --backplane-ca-file are for --backplane")]
    public void BadBackplaneOptions_AreOneLineAndExit2(string arguments, string error)
    {
        using var daemon = DaemonProcess.Start(arguments, expectListening: false);
        Assert.Equal(2, daemon.WaitForExit());
        Assert.Contains(error, daemon.Output);
        Assert.DoesNotContain("tooShort15chars", daemon.Output, StringComparison.Ordinal);   // a key, even a bad one, is never printed
    }

    // Two daemons on one Redis: ann and abe on the first, bea on the second, once the first hears the second.
    private sealed class TwoDaemons : IDisposable
    {
        private readonly List<IDisposable> _owned = [];

        public TwoDaemons()
        {
            try
            {
                Redis = Own(RedisProcess.Start());
                D1 = Own(Daemon(Redis));
                DaemonProcess d2 = Own(Daemon(Redis));
                Ann = Own(ChatUser.Join(D1, "ann"));
                Abe = Own(ChatUser.Join(D1, "abe"));
                Bea = Own(ChatUser.Join(d2, "bea"));
                Ann.NextWhere(l => l.EndsWith(" is now bea", StringComparison.Ordinal));
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        public RedisProcess Redis { get; } = null!;

        public DaemonProcess D1 { get; } = null!;

        public ChatUser Ann { get; } = null!;

        public ChatUser Abe { get; } = null!;

        public ChatUser Bea { get; } = null!;

        public void Dispose()
        {
            foreach (IDisposable owned in Enumerable.Reverse(_owned))
                owned.Dispose();
            _owned.Clear();
        }

        private T Own<T>(T resource) where T : IDisposable
        {
            _owned.Add(resource);
            return resource;
        }
    }

    private static List<string> Expected(string nick, string prefix, int count) =>
        [.. Enumerable.Range(0, count).Select(i => $"<{nick}> {prefix}{i}")];
}
