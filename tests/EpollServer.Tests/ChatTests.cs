// chat: greetings, nicknames, rooms and commands among several clients, and a slow reader that is disconnected
// while everyone else keeps receiving every message in order; each on one reactor and on three, where the clients
// spread over the reactors (connections are handed to the least loaded) and their rooms span them.
using System.Text.RegularExpressions;
using EpollServer.Diagnostics;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed partial class ChatTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void ThreeClients_Messages_Nicks_Who_Me(int reactors)
    {
        using TestServer server = Chat(reactors);
        using var a = Join(server, "guest1", others: 0);
        using var b = Join(server, "guest2", others: 1);
        Assert.Equal("* guest2 joined #lobby", a.ReadLine());
        using var c = Join(server, "guest3", others: 2);
        Assert.Equal("* guest3 joined #lobby", a.ReadLine());
        Assert.Equal("* guest3 joined #lobby", b.ReadLine());

        a.Send("/nick alice\n");
        Assert.Equal("* you are now alice", a.ReadLine());
        Assert.Equal("* guest1 is now alice", b.ReadLine());
        Assert.Equal("* guest1 is now alice", c.ReadLine());
        b.Send("/nick 철수\n");
        Assert.Equal("* you are now 철수", b.ReadLine());
        Assert.Equal("* guest2 is now 철수", a.ReadLine());
        Assert.Equal("* guest2 is now 철수", c.ReadLine());

        a.Send("hello, 안녕!\n");
        Assert.Equal("<alice> hello, 안녕!", b.ReadLine());
        Assert.Equal("<alice> hello, 안녕!", c.ReadLine());
        c.Send("/me waves\n");
        Assert.Equal("* guest3 waves", a.ReadLine());
        Assert.Equal("* guest3 waves", b.ReadLine());

        // The sender gets nothing back for its own message: the next line it reads is the answer to /who.
        c.Send("/who\n");
        Assert.Equal("* in #lobby (3): alice, 철수, guest3 (you)", c.ReadLine());
        a.Send("/who\n");
        Assert.Equal("* in #lobby (3): alice (you), 철수, guest3", a.ReadLine());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void NicknamesAreValidatedAndUnique(int reactors)
    {
        using TestServer server = Chat(reactors);
        using var a = Join(server, "guest1", others: 0);
        using var b = Join(server, "guest2", others: 1);
        a.ReadLine();
        a.Send("/nick alice\n");
        a.ReadLine();
        b.ReadLine();
        b.Send("/nick ALICE\n");
        Assert.Equal("ERR nickname 'ALICE' is taken", b.ReadLine());
        b.Send("/nick bad name\n");
        Assert.Equal("ERR nickname must be 1 to 16 letters, digits, '_' or '-'", b.ReadLine());
        b.Send("/nick seventeen_chars_x\n");
        Assert.Equal("ERR nickname must be 1 to 16 letters, digits, '_' or '-'", b.ReadLine());
        b.Send("/nick\n");
        Assert.Equal("ERR nickname must be 1 to 16 letters, digits, '_' or '-'", b.ReadLine());
        b.Send("/nick guest2\n");
        Assert.Equal("* you are already guest2", b.ReadLine());
        a.Send("/nick Alice\n");   // changing the case of one's own nickname is allowed
        Assert.Equal("* you are now Alice", a.ReadLine());
        Assert.Equal("* alice is now Alice", b.ReadLine());
        // A new client's default nickname skips one a user has taken.
        b.Send("/nick guest3\n");
        Assert.Equal("* you are now guest3", b.ReadLine());
        using var c = Join(server, "guest4", others: 2);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void RoomsSeparateConversations_JoinLeaveAndQuitNotices(int reactors)
    {
        using TestServer server = Chat(reactors);
        using var a = Join(server, "guest1", others: 0);
        using var b = Join(server, "guest2", others: 1);
        a.ReadLine();
        using var c = Join(server, "guest3", others: 2);
        a.ReadLine();
        b.ReadLine();

        b.Send("/join #games\n");
        Assert.Equal("* you are now in #games with 0 others", b.ReadLine());
        Assert.Equal("* guest2 left for #games", a.ReadLine());
        Assert.Equal("* guest2 left for #games", c.ReadLine());
        a.Send("lobby only\n");
        Assert.Equal("<guest1> lobby only", c.ReadLine());
        c.Send("/join games\n");
        Assert.Equal("* you are now in #games with 1 other", c.ReadLine());
        Assert.Equal("* guest3 joined #games", b.ReadLine());
        Assert.Equal("* guest3 left for #games", a.ReadLine());
        c.Send("in games\n");
        // b's next line is c's message: "lobby only" never reached it.
        Assert.Equal("<guest3> in games", b.ReadLine());
        c.Send("/join games\n");
        Assert.Equal("* you are already in #games", c.ReadLine());
        c.Send("/join no spaces\n");
        Assert.Equal("ERR room name must be 1 to 32 letters, digits, '_' or '-'", c.ReadLine());

        c.Send("/quit\n");
        Assert.Equal("* bye, guest3", c.ReadLine());
        Assert.Null(c.ReadLine());
        Assert.Equal("* guest3 quit", b.ReadLine());
        b.Socket.Close();
        server.WaitUntil(s => s.OpenConnections == 1, "b and c are gone");
        a.Send("/who\n");
        Assert.Equal("* in #lobby (1): guest1 (you)", a.ReadLine());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void BadInput_GetsAnErrorLine_NothingIsRelayed(int reactors)
    {
        using TestServer server = Chat(reactors);
        using var a = Join(server, "guest1", others: 0);
        using var b = Join(server, "guest2", others: 1);
        a.ReadLine();
        b.Send([0xC0, 0xAF, (byte)'\n']);
        Assert.Equal("ERR line is not valid UTF-8; not sent", b.ReadLine());
        b.Send("clear \u001b[2J screen\n");
        Assert.Equal("ERR control characters are not allowed; not sent", b.ReadLine());
        b.Send("/frobnicate\n");
        Assert.Equal("ERR unknown command '/frobnicate'; /help lists the commands", b.ReadLine());
        b.Send("/me\n");
        Assert.Equal("ERR usage: /me ACTION", b.ReadLine());
        b.Send("\n/help\n");
        Assert.Equal("* commands:", b.ReadLine());
        for (int i = 0; i < 7; i++)
            Assert.StartsWith("* ", b.ReadLine());
        b.Send("fine\n");
        // a's first line after the join notice: nothing of the rejected input was relayed.
        Assert.Equal("<guest2> fine", a.ReadLine());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void TelnetClient_GetsCrLf(int reactors)
    {
        using TestServer server = Chat(reactors);
        using var a = Join(server, "guest1", others: 0);
        using var b = Join(server, "guest2", others: 1);
        a.ReadLine();
        a.Send("/nick tel\r\n");
        Assert.Equal("* you are now tel\r", a.ReadLine());
        Assert.Equal("* guest1 is now tel", b.ReadLine());
        b.Send("hi there\n");
        Assert.Equal("<guest2> hi there\r", a.ReadLine());
    }

    // One sender, three readers that keep up, one that never reads. The reader that never reads passes its output
    // cap and is disconnected (counted, announced); the others receive every message exactly once and in order.
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void SlowReader_IsDisconnected_OthersReceiveEverythingInOrder(int reactors)
    {
        using TestServer server = Chat(reactors, o => o.OutputBufferSize = ChatHandler.MinOutputBufferSize);
        using var sender = Join(server, "guest1", others: 0);
        var readers = new List<TestClient>();
        for (int i = 0; i < 3; i++)
        {
            readers.Add(Join(server, $"guest{i + 2}", others: i + 1));
            foreach (TestClient earlier in readers.Take(i).Append(sender))
                Assert.Equal($"* guest{i + 2} joined #lobby", earlier.ReadLine());
        }
        using var slow = Join(server, "guest5", others: 4, receiveBuffer: 4096);
        foreach (TestClient earlier in readers.Append(sender))
            Assert.Equal("* guest5 joined #lobby", earlier.ReadLine());

        var logs = readers.Select(r => new ReaderLog(r)).ToList();
        string padding = new('x', 380);
        int sent = 0;
        // Batches of 500 messages (about 200 KB), each waited for by the readers that keep up, so that only the
        // one that never reads falls behind. Up to 100 batches (20 MB); its kernel buffers cannot hold that.
        for (int batch = 0; batch < 100 && (server.Server.Stats[Counter.ConnectionsAborted] == 0 || batch < 5 + sent / 500 / 2); batch++)
        {
            var text = new System.Text.StringBuilder();
            for (int i = 0; i < 500; i++)
                text.Append($"m{sent++:D6} {padding}\n");
            sender.Send(text.ToString());
            foreach (ReaderLog log in logs)
                Wait.Until(() => log.Messages >= sent || log.Failure is not null, $"a reader receives message {sent}", 20_000);
        }
        Assert.Equal(1, server.Server.Stats[Counter.ConnectionsAborted]);
        foreach (ReaderLog log in logs)
        {
            Assert.Null(log.Failure);
            Assert.Equal(sent, log.Messages);
            // From another reactor the notice comes in that reactor's mail, which the sender's messages may overtake.
            Wait.Until(() => { lock (log.Notices) return log.Notices.Count > 0; }, "a reader hears of the disconnection");
            lock (log.Notices)
                Assert.Equal(["* guest5 was disconnected: too slow (output cap reached)"], log.Notices);
        }
        // What the slow reader did get is a clean prefix, in order, and then its connection ends.
        int prefix = 0;
        try
        {
            for (string? line; (line = slow.ReadLine()) is not null;)
            {
                if (line.StartsWith('<'))
                    Assert.Equal($"<guest1> m{prefix++:D6} {padding}", line);
            }
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or EndOfStreamException)
        {
            // Disconnected at once, with what it was owed dropped: the stream may end in a reset, or in the middle
            // of the line that was being sent.
        }
        Assert.InRange(prefix, 1, sent - 1);
        foreach (TestClient reader in readers)
            reader.Dispose();
    }

    // Three senders and six readers spread over three reactors, and one reader that never reads. Every reader that
    // keeps up gets every message of every sender exactly once and in that sender's order, whichever reactor either
    // is on; the one that never reads is disconnected, and everyone hears so once.
    [Fact]
    public void ThreeSendersOnThreeReactors_EveryoneGetsEveryMessageInOrder()
    {
        using TestServer server = Chat(3, o => o.OutputBufferSize = ChatHandler.MinOutputBufferSize);
        var clients = new List<TestClient>();
        var logs = new List<ReaderLog>();
        for (int i = 0; i < 9; i++)
        {
            clients.Add(Join(server, $"guest{i + 1}", others: i));
            logs.Add(new ReaderLog(clients[i]));
        }
        using TestClient slow = Join(server, "guest10", others: 9, receiveBuffer: 4096);
        // Ten connections handed to the least loaded of three reactors: 4, 3 and 3.
        Assert.Equal([3, 3, 4], server.Server.PerReactor.Select(r => (int)r[Counter.ConnectionsOpen]).Order());

        string padding = new('x', 380);
        int sent = 0;
        TestClient[] senders = [.. clients.Take(3)];
        // Rounds of 300 messages (about 120 KB) from each sender, each waited for by everyone who keeps up: at least 8,
        // and on until the one that never reads is disconnected (its kernel buffers cannot hold 60 rounds).
        for (int round = 0; round < 60 && (round < 8 || server.Server.Stats[Counter.ConnectionsAborted] == 0); round++)
        {
            for (int s = 0; s < senders.Length; s++)
            {
                var text = new System.Text.StringBuilder();
                for (int i = 0; i < 300; i++)
                    text.Append($"m{sent + i:D6} {padding}\n");
                senders[s].Send(text.ToString());
            }
            sent += 300;
            for (int r = 0; r < logs.Count; r++)
            {
                for (int s = 0; s < senders.Length; s++)
                {
                    if (s == r)
                        continue;   // a sender gets nothing back for its own messages
                    ReaderLog log = logs[r];
                    int guest = s + 1;
                    Wait.Until(() => log.From(guest) >= sent || log.Failure is not null, $"guest{r + 1} receives message {sent} of guest{guest}", 20_000);
                }
            }
        }
        Assert.Equal(1, server.Server.Stats[Counter.ConnectionsAborted]);
        for (int r = 0; r < logs.Count; r++)
        {
            ReaderLog log = logs[r];
            Assert.Null(log.Failure);
            for (int s = 0; s < senders.Length; s++)
                Assert.Equal(s == r ? 0 : sent, log.From(s + 1));
            string[] joins = [.. Enumerable.Range(r + 2, 9 - r).Select(g => $"* guest{g} joined #lobby")];
            Wait.Until(() => log.NoticeCount == joins.Length + 1, $"guest{r + 1} hears of the disconnection",
                () => $"its reader: {log.Stopped ?? "reading"}; its notices: {string.Join(" | ", log.NoticesNow())}", 20_000);
            string[] expected = [.. joins, "* guest10 was disconnected: too slow (output cap reached)"];
            lock (log.Notices)
                Assert.Equal(expected.Order(StringComparer.Ordinal), log.Notices.Order(StringComparer.Ordinal));
        }
        foreach (TestClient client in clients)
            client.Dispose();
    }

    private static TestServer Chat(int reactors, Action<ServerOptions>? configure = null) =>
        new(configure: configure, reactors: reactors, handlers: ChatHandler.Factory());

    // Connects and checks the welcome line; `others` is how many were in #lobby before this client.
    private static TestClient Join(TestServer server, string nick, int others, int? receiveBuffer = null)
    {
        TestClient client = TestClient.Connect(server.Port, receiveBuffer: receiveBuffer);
        string people = others == 1 ? "1 other" : $"{others} others";
        Assert.Equal($"* welcome to EpollServer chat: you are {nick} in #lobby with {people}; /help lists the commands", client.ReadLine());
        return client;
    }

    // Reads one client's lines on a thread: each sender's messages must arrive numbered 0, 1, 2, ... with no gap or
    // repeat; anything else is a notice, kept.
    private sealed partial class ReaderLog
    {
        private readonly int[] _next = new int[32];   // by sender's guest number

        public ReaderLog(TestClient client) => new Thread(() => Read(client)) { IsBackground = true }.Start();

        public int Messages => From(1);

        public List<string> Notices { get; } = [];

        public string? Failure { get; private set; }

        public int From(int guest) => Volatile.Read(ref _next[guest]);

        // Why the reader ended before the test did (a reset, say), for a wait's failure message; null while reading.
        public string? Stopped { get; private set; }

        private void Read(TestClient client)
        {
            try
            {
                for (string? line; (line = ReadLine(client)) is not null;)
                {
                    Match m = MessageLine().Match(line);
                    if (!m.Success)
                    {
                        lock (Notices)
                            Notices.Add(line);
                        continue;
                    }
                    int guest = int.Parse(m.Groups[1].Value);
                    if (int.Parse(m.Groups[2].Value) != _next[guest])
                        Failure ??= $"expected message {_next[guest]} from guest{guest}, got: {line[..24]}";
                    else
                        Interlocked.Increment(ref _next[guest]);
                }
            }
            catch (ObjectDisposedException)
            {
                // The test is over and disposed the client.
            }
            catch (System.Net.Sockets.SocketException e)
            {
                Stopped = $"reading stopped: {e.SocketErrorCode}";
            }
        }

        // A reader idle past the client's 10 s receive timeout (it has everything, while the test waits on a slower
        // one, or a busy machine stalls) reads on: only the test's end or the connection's ends it.
        private static string? ReadLine(TestClient client)
        {
            while (true)
            {
                try
                {
                    return client.ReadLine();
                }
                catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.TimedOut)
                {
                }
            }
        }

        public int NoticeCount
        {
            get
            {
                lock (Notices)
                    return Notices.Count;
            }
        }

        public string[] NoticesNow()
        {
            lock (Notices)
                return [.. Notices];
        }

        [GeneratedRegex(@"^<guest(\d+)> m(\d{6}) x{380}$")]
        private static partial Regex MessageLine();
    }
}
