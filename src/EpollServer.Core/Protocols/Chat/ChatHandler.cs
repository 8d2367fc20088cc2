// chat: the lessons' chat server for nc and telnet. Lines go to everyone else in the sender's room, prefixed with
// the sender's nickname; lines starting with '/' are commands (ChatCommands.cs). Broadcast never waits: a reader
// whose output ring (its cap, --output-buffer) cannot take a message is disconnected, and the others are told.
using System.Buffers;
using System.Text;
using System.Text.Unicode;
using EpollServer.Net;

namespace EpollServer.Protocols.Chat;

public sealed partial class ChatHandler : LineProtocolHandler
{
    public const string DefaultRoomName = "lobby";

    // How every welcome line begins (what `epollserver health` waits for).
    public const string WelcomePrefix = "* welcome to EpollServer chat";

    // C0 controls (TAB aside) and DEL: relayed to other people's terminals they would move cursors and clear
    // screens (ESC sequences), so a line carrying one is refused.
    private static readonly SearchValues<byte> ControlBytes = SearchValues.Create(
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127]);

    private readonly Dictionary<string, ChatClient> _byNick = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, ChatRoom> _rooms = new(StringComparer.OrdinalIgnoreCase);
    // Why a reader that fell behind is aborted: counted under this name, and told to the room.
    public const string SlowConsumerReason = "slow-consumer";

    private readonly List<ChatClient> _slowConsumers = [];
    private readonly byte[] _message;   // "<nick> text" of the message being broadcast
    private long _nextGuest;
    private long _messages;

    public ChatHandler(int maxLineLength = DefaultMaxLineLength)
        : base(maxLineLength)
    {
        // The longest message: '<', a nickname of MaxNickLength chars (up to 3 UTF-8 bytes each), "> ", the line.
        _message = new byte[maxLineLength + 3 + MaxNickLength * 3];
        DefaultRoom = new ChatRoom(DefaultRoomName);
        _rooms.Add(DefaultRoom.Name, DefaultRoom);
    }

    public override string Name => "chat";

    // A chat client may connect and only listen.
    public override bool ClientSpeaksFirst => false;

    public long MessagesRelayed => Volatile.Read(ref _messages);

    private ChatRoom DefaultRoom { get; }

    // The dictionaries' counts are read without the loop: a count may be a member behind, which a gauge can afford.
    public override IEnumerable<KeyValuePair<string, long>> Counters =>
        [.. base.Counters, new("chat-clients", _byNick.Count), new("rooms", _rooms.Count), new("messages-relayed", MessagesRelayed)];

    public override void OnOpen(Connection connection)
    {
        var client = new ChatClient(connection, NextGuestNick());
        connection.State = client;
        _byNick.Add(client.Nick, client);
        Reply(client, $"{WelcomePrefix}: you are {client.Nick} in {DefaultRoom} with " +
            $"{Others(DefaultRoom.Members.Count)}; /help lists the commands");
        Join(client, DefaultRoom);
    }

    public override void OnClose(Connection connection)
    {
        if (connection.State is not ChatClient client)
            return;
        _byNick.Remove(client.Nick);
        if (client.Room is not null)
            Leave(client, $"* {client.Nick} {Farewell(connection)}");
    }

    protected override bool OnLine(Connection connection, ReadOnlySpan<byte> line, bool endsWithNewline)
    {
        var client = (ChatClient)connection.State!;
        ReadOnlySpan<byte> text = SplitCarriageReturn(line, out bool hadCarriageReturn);
        client.UsesCrLf = hadCarriageReturn;
        // Every answer to the sender itself is short; wait for room for the longest rather than half-execute.
        if (connection.OutputSpace < ReplyReserve)
            return false;
        if (text.IsEmpty)
            return true;
        if (!Utf8.IsValid(text))
            Refuse(client, "ERR line is not valid UTF-8; not sent");
        else if (text.ContainsAny(ControlBytes))
            Refuse(client, "ERR control characters are not allowed; not sent");
        else if (text[0] == (byte)'/')
            RunCommand(client, Encoding.UTF8.GetString(text));
        else
            Relay(client, text);
        return true;
    }

    // The hot path: one copy into the message buffer, one write per receiver, no allocation.
    private void Relay(ChatClient sender, ReadOnlySpan<byte> text)
    {
        int length = sender.MessagePrefix.Length + text.Length;
        sender.MessagePrefix.CopyTo(_message, 0);
        text.CopyTo(_message.AsSpan(sender.MessagePrefix.Length));
        Interlocked.Increment(ref _messages);
        Broadcast(sender.Room!, sender, _message.AsSpan(0, length));
    }

    // Appends `line` to every member but `except`. A member without room for it, even after sending what it has
    // buffered, is not waited for: it is marked, and aborted once the loop over the members is done. Its close tells
    // the room after this callback has returned (the loop defers OnClose), and that notice may drop others in turn.
    private void Broadcast(ChatRoom room, ChatClient? except, ReadOnlySpan<byte> line)
    {
        foreach (ChatClient member in room.Members)
        {
            if (member == except || member.Dropped || member.Connection.IsClosing)
                continue;
            ReadOnlySpan<byte> ending = member.LineEnding;
            if (!member.Connection.EnsureOutputSpace(line.Length + ending.Length))
            {
                member.Dropped = true;
                _slowConsumers.Add(member);
                continue;
            }
            member.Connection.Write(line);
            member.Connection.Write(ending);
        }
        DisconnectSlowConsumers();
    }

    private void DisconnectSlowConsumers()
    {
        foreach (ChatClient slow in _slowConsumers)
            slow.Connection.Abort(SlowConsumerReason);
        _slowConsumers.Clear();
    }

    private void Notify(ChatRoom room, ChatClient? except, string notice) => Broadcast(room, except, Encoding.UTF8.GetBytes(notice));

    private static void Reply(ChatClient client, string text)
    {
        client.Connection.Write(Encoding.UTF8.GetBytes(text));
        client.Connection.Write(client.LineEnding);
    }

    // An ERR line to the client, and the error counted and logged (at a bounded rate) as the peer's.
    private static void Refuse(ChatClient client, string error)
    {
        Reply(client, error);
        client.Connection.ReportPeerError(error);
    }

    private void Join(ChatClient client, ChatRoom room)
    {
        room.Members.Add(client);
        client.Room = room;
        Notify(room, client, $"* {client.Nick} joined {room}");
    }

    private void Leave(ChatClient client, string notice)
    {
        ChatRoom room = client.Room!;
        room.Members.Remove(client);
        client.Room = null;
        if (room.Members.Count == 0 && room != DefaultRoom)
            _rooms.Remove(room.Name);
        Notify(room, null, notice);
    }

    private static string Farewell(Connection connection) => connection.ClosedBecause switch
    {
        CloseReason.Aborted when connection.AbortReason == SlowConsumerReason => "was disconnected: too slow (output cap reached)",
        CloseReason.Reset or CloseReason.Error => "left (connection lost)",
        CloseReason.DrainDeadline => "left (server shutting down)",
        CloseReason.IdleTimeout => "left (idle timeout)",
        CloseReason.RequestTimeout => "left (a line was never finished)",
        CloseReason.HandlerError => "left (server error)",
        _ => "left",
    };

    private string NextGuestNick()
    {
        string nick;
        do
            nick = $"guest{++_nextGuest}";
        while (_byNick.ContainsKey(nick));
        return nick;
    }

    private static string Others(int count) => count == 1 ? "1 other" : $"{count} others";
}
