// chat's rules for text, on one server: one nickname fold (the Kelvin sign and 'k' are one name), nicknames without
// invisible or direction-changing characters, lines without C1 or bidirectional controls; and the bounded inbox for
// lines from other servers (through a backplane the test drives): what waits beyond the cap is dropped, counted, and
// the room told once per episode.
using System.Text;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed partial class ChatTests
{
    [Fact]
    public void KelvinSignAndK_AreOneNickname()
    {
        using TestServer server = Chat(1);
        using var a = Join(server, "guest1", others: 0);
        using var b = Join(server, "guest2", others: 1);
        a.ReadLine();
        a.Send("/nick \u212Aate\n");   // KELVIN SIGN, then "ate"
        Assert.Equal("* you are now \u212Aate", a.ReadLine());
        b.ReadLine();
        b.Send("/nick kate\n");
        Assert.Equal("ERR nickname 'kate' is taken", b.ReadLine());
        b.Send("/nick KATE\n");
        Assert.Equal("ERR nickname 'KATE' is taken", b.ReadLine());
        a.Send("/nick kate\n");   // its own name in another spelling: allowed
        Assert.Equal("* you are now kate", a.ReadLine());
    }

    [Theory]
    [InlineData("\u0085")]   // C1: NEXT LINE
    [InlineData("\u009B")]   // C1: CSI
    [InlineData("\u202E")]   // RIGHT-TO-LEFT OVERRIDE
    [InlineData("\u202A")]
    [InlineData("\u2066")]   // LEFT-TO-RIGHT ISOLATE
    [InlineData("\u2069")]
    [InlineData("\u200E")]   // LEFT-TO-RIGHT MARK
    [InlineData("\u200F")]
    [InlineData("\u061C")]   // ARABIC LETTER MARK
    [InlineData("\u200B")]   // ZERO WIDTH SPACE
    [InlineData("\u200D")]   // ZERO WIDTH JOINER
    [InlineData("\u2060")]   // WORD JOINER
    [InlineData("\uFEFF")]   // ZERO WIDTH NO-BREAK SPACE
    [InlineData("\u3164")]   // HANGUL FILLER: a letter (Lo) that shows nothing
    [InlineData("\uFFA0")]
    public void NicknamesWithInvisibleOrDirectionChangingCharacters_AreRefused(string character)
    {
        using TestServer server = Chat(1);
        using var a = Join(server, "guest1", others: 0);
        a.Send($"/nick al{character}ice\n");
        string answer = a.ReadLine()!;
        Assert.True(answer.StartsWith("ERR ", StringComparison.Ordinal), answer);
    }

    [Theory]
    [InlineData("a\u0085b")]
    [InlineData("\u009B31mred")]
    [InlineData("abc\u202Efed")]
    [InlineData("x\u2067y")]
    [InlineData("x\u200Fy")]
    [InlineData("\u061C")]
    public void LinesWithC1OrBidirectionalControls_AreRefused_AndNotRelayed(string text)
    {
        using TestServer server = Chat(1);
        using var a = Join(server, "guest1", others: 0);
        using var b = Join(server, "guest2", others: 1);
        a.ReadLine();
        a.Send(text + "\n");
        Assert.Equal("ERR C1 and bidirectional control characters are not allowed; not sent", a.ReadLine());
        a.Send("fine \u200B zero-width is text\n");
        Assert.Equal("<guest1> fine \u200B zero-width is text", b.ReadLine());   // the next thing b reads
    }

    // The reactor's loop is held (a post that waits) while more lines than the cap arrive from "another server":
    // the cap's worth is delivered in order, the rest dropped and counted, and the room told once; the next line
    // after that gets through with no second notice, and a second flood is a second episode with one notice.
    [Theory]
    [InlineData(100, 1024 * 1024)]   // the line cap binds
    [InlineData(100_000, 100 * 22)]   // the byte cap binds: "<far> line NNN" is 14 bytes, 8 more for the framing
    public void LinesFromElsewhereBeyondTheCap_AreDropped_Counted_AndTheRoomToldOncePerEpisode(int lines, long bytes)
    {
        var backplane = new DrivenBackplane();
        using var server = new TestServer(reactors: 1, handlers: ChatHandler.Factory(backplane: backplane, inboxLimits: new ChatInboxLimits(lines, bytes)));
        using TestClient member = TestClient.Connect(server.Port);
        member.ReadLine();
        for (int episode = 0; episode < 2; episode++)
        {
            using (HoldLoop(server))
            {
                for (int i = 0; i < 150; i++)
                    Assert.True(backplane.Listener.Deliver("lobby", Encoding.UTF8.GetBytes($"<far> line {i:D3}")));
            }
            for (int i = 0; i < 100; i++)
                Assert.Equal($"<far> line {i:D3}", member.ReadLine());
            Assert.Equal(ChatHandler.ElsewhereDroppedNotice, member.ReadLine());
            Assert.True(backplane.Listener.Deliver("lobby", "<far> after"u8));
            Assert.Equal("<far> after", member.ReadLine());
            Assert.Equal(50 * (episode + 1), HandlerCounter(server, "backplane-overflowed"));
        }
        Assert.Equal(100, HandlerCounter(server, "backplane-queued-peak-lines"));
        Assert.Equal(0, HandlerCounter(server, "backplane-queued-lines"));
    }

    // Lines another server could not have sent are refused by the directory (the backplane counts them).
    [Theory]
    [InlineData("no shape at all")]
    [InlineData("<bad nick> text")]
    [InlineData("<alice>")]
    [InlineData("* alice")]
    [InlineData("<al\u202Eice> text")]
    [InlineData("<alice> one\n<bob> two")]
    [InlineData("<alice> \u001B[2J")]
    [InlineData("<alice> \u009B2J")]
    [InlineData("<alice> bidi \u2066")]
    public void LinesFromElsewhere_WithoutTheShapeThisServerPublishes_AreRefused(string line)
    {
        var backplane = new DrivenBackplane();
        using var server = new TestServer(reactors: 1, handlers: ChatHandler.Factory(backplane: backplane));
        using TestClient member = TestClient.Connect(server.Port);
        member.ReadLine();
        Assert.False(backplane.Listener.Deliver("lobby", Encoding.UTF8.GetBytes(line)));
        Assert.False(backplane.Listener.Deliver("lobby", [.. "<alice> "u8, 0xC3, 0x28]));   // not UTF-8
        Assert.False(backplane.Listener.Deliver("lobby", Encoding.UTF8.GetBytes("<alice> " + new string('x', LineProtocolHandler.DefaultMaxLineLength + 100))));
        Assert.True(backplane.Listener.Deliver("lobby", "* alice waves"u8));
        Assert.Equal("* alice waves", member.ReadLine());   // nothing refused came before it
    }

    private static long HandlerCounter(TestServer server, string name) =>
        server.Server.HandlerCounters.Where(c => c.Key == name).Sum(c => c.Value);

    // Holds the server's only loop until disposed: a post that waits on a gate.
    private static Gate HoldLoop(TestServer server)
    {
        var held = new ManualResetEventSlim();
        var gate = new ManualResetEventSlim();
        server.Server.Loop.Post(() =>
        {
            held.Set();
            gate.Wait(TestClient.TimeoutMs);
        });
        Assert.True(held.Wait(TestClient.TimeoutMs), "the loop did not take the post");
        return new Gate(gate);
    }

    private sealed class Gate(ManualResetEventSlim gate) : IDisposable
    {
        public void Dispose() => gate.Set();
    }

    // A backplane whose other servers are the test: it hands out the listener, and connects nowhere.
    private sealed class DrivenBackplane : IChatBackplane
    {
        public IChatBackplaneListener Listener { get; private set; } = null!;

        public bool IsConnected => true;

        public IEnumerable<KeyValuePair<string, long>> Counters => [];

        public void Start(IChatBackplaneListener listener) => Listener = listener;

        public void Publish(ChatBatch batch) => batch.Release();

        public void Watch(string room, bool watching) { }

        public void Enter(string nick, string room) { }

        public void Move(string nick, string room) { }

        public void Leave(string nick) { }

        public void Rename(string from, string to, string room, Action<bool> answer) => answer(true);

        public void Who(string room, Action<IReadOnlyList<string>?> answer) => answer([]);

        public void Dispose() { }
    }
}
