// chat: the lessons' chat server for nc and telnet. Lines go to everyone else in the sender's room, prefixed with
// the sender's nickname; lines starting with '/' are commands (ChatCommands.cs). Broadcast never waits: a reader
// whose output ring (its cap, --output-buffer) cannot take a message is disconnected, and the others are told.
// One handler per reactor, all sharing one ChatDirectory: a line goes at once to the room's members on this reactor,
// and once per batch to each other reactor that has members in the room, which hands it to its own (ChatMail). With
// a backplane (ChatBackplane.cs) the batch's lines also go to other servers, and theirs come in through a queue.
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using EpollServer.Net;

namespace EpollServer.Protocols.Chat;

public sealed partial class ChatHandler : LineProtocolHandler
{
    public const string DefaultRoomName = "lobby";

    // How every welcome line begins (what `epollserver health` waits for).
    public const string WelcomePrefix = "* welcome to EpollServer chat";

    // Why a reader that fell behind is aborted: counted under this name, and told to the room.
    public const string SlowConsumerReason = "slow-consumer";

    private readonly ChatDirectory _directory;
    private readonly IChatBackplane? _backplane;
    private readonly Dictionary<int, List<ChatClient>> _local = [];   // room id -> this reactor's members of it
    private readonly List<ChatClient> _slowConsumers = [];
    private readonly byte[] _message;   // "<nick> text" of the message being broadcast
    // Room lines for this reactor's members: other reactors' mail, and lines from other servers (From null: the
    // buffer is ArrayPool's). One queue, so a room's lines are broadcast in the order they were handed over.
    private readonly ConcurrentQueue<(ChatMail? From, byte[] Buffer, int Length)> _inbox = new();
    private readonly Action _readInbox;
    private int _inboxPosted;   // 1 while a ReadInbox is posted and not yet begun: one wake-up for many deliveries
    private readonly Action _sendMail;
    private ChatMail[] _outboxes = [];   // by reactor number; grows as reactors register
    private Reactor.EventLoop? _loop;
    private int _reactor = -1;
    private long _messages;
    private int _clients;   // this reactor's; written on its loop, read by the stats from any thread

    // A chat of its own, for a server with one reactor.
    public ChatHandler(int maxLineLength = DefaultMaxLineLength)
        : this(new ChatDirectory(), maxLineLength)
    {
    }

    // One of a server's per-reactor handlers: every one of them is given the same directory (see Factory).
    public ChatHandler(ChatDirectory directory, int maxLineLength = DefaultMaxLineLength)
        : base(maxLineLength)
    {
        _directory = directory;
        _backplane = directory.Backplane;
        // The longest message: '<', a nickname of MaxNickLength chars (up to 3 UTF-8 bytes each), "> ", the line.
        _message = new byte[maxLineLength + 3 + MaxNickLength * 3];
        _readInbox = ReadInbox;
        _sendMail = SendMail;
    }

    // A handler factory for a server with several reactors: one shared directory, a handler each.
    // With a backplane, rooms, nicknames and /who are shared with the other servers on it.
    public static Func<IProtocolHandler> Factory(int maxLineLength = DefaultMaxLineLength, IChatBackplane? backplane = null,
        ChatInboxLimits? inboxLimits = null)
    {
        var directory = new ChatDirectory(backplane, inboxLimits);
        return () => new ChatHandler(directory, maxLineLength);
    }

    public override string Name => "chat";

    // A chat client may connect and only listen.
    public override bool ClientSpeaksFirst => false;

    public long MessagesRelayed => Volatile.Read(ref _messages);

    // This reactor's clients and the lines they sent; the rooms are counted once, by the first reactor to serve.
    public override IEnumerable<KeyValuePair<string, long>> Counters =>
        [.. base.Counters, new("chat-clients", Volatile.Read(ref _clients)), new("messages-relayed", MessagesRelayed),
            new("rooms", _reactor == 0 ? _directory.Rooms : 0), .. BackplaneCounters()];

    public override void OnOpen(Connection connection)
    {
        JoinReactors(connection);
        ChatClient client;
        int others;
        lock (_directory.Lock)
        {
            client = new ChatClient(this, connection, _directory.NextGuestNick());
            _directory.TryTakeNick(client.Nick, client);
            others = _directory.Lobby.Members.Count;
            AddMember(client, _directory.Lobby);
            _backplane?.Enter(client.Nick, _directory.Lobby.Name);
        }
        connection.State = client;
        Volatile.Write(ref _clients, _clients + 1);
        Reply(client, $"{WelcomePrefix}: you are {client.Nick} in {_directory.Lobby} with {Others(others)}; /help lists the commands");
        if (_backplane is { IsConnected: false })
            Reply(client, BackplaneLostNotice);
        Join(client, _directory.Lobby);
    }

    public override void OnClose(Connection connection)
    {
        if (connection.State is not ChatClient client)
            return;
        Volatile.Write(ref _clients, _clients - 1);
        lock (_directory.Lock)
        {
            _directory.ReleaseNick(client.Nick);
            _backplane?.Leave(client.Nick);
            if (client.PendingNick is { } pending)
            {
                _directory.ReleaseNick(pending);
                _backplane?.Leave(pending);   // after the claim in flight, in the backplane's order
            }
        }
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
        ChatText.LineProblem problem = ChatText.Check(text);
        if (problem == ChatText.LineProblem.NotUtf8)
            Refuse(client, "ERR line is not valid UTF-8; not sent");
        else if (problem == ChatText.LineProblem.Control)
            Refuse(client, "ERR control characters are not allowed; not sent");
        else if (problem == ChatText.LineProblem.Formatting)
            Refuse(client, "ERR C1 and bidirectional control characters are not allowed; not sent");
        else if (text[0] == (byte)'/')
            RunCommand(client, Encoding.UTF8.GetString(text));
        else
            Relay(client, text);
        return true;
    }

    // The hot path: one copy into the message buffer, one write per local receiver, one copy into the mail of each
    // other reactor with members in the room; no allocation, no lock.
    private void Relay(ChatClient sender, ReadOnlySpan<byte> text)
    {
        int length = sender.MessagePrefix.Length + text.Length;
        sender.MessagePrefix.CopyTo(_message, 0);
        text.CopyTo(_message.AsSpan(sender.MessagePrefix.Length));
        Interlocked.Increment(ref _messages);
        ToRoom(sender.Room!, sender, _message.AsSpan(0, length));
    }

    // A line to everyone in the room but `except`: here now, on other reactors and servers at the end of this batch.
    private void ToRoom(ChatRoom room, ChatClient? except, ReadOnlySpan<byte> line)
    {
        Broadcast(room.Id, except, line);
        if (_backplane is not null)
            (_toOtherServers ??= ChatBatch.Rent(_batches)).Append(room.NameUtf8, line);
        if (_outboxes.Length != _directory.ReactorCount)
            GrowOutboxes();
        for (int r = 0; r < _outboxes.Length; r++)
        {
            if (r != _reactor && Volatile.Read(ref room.OnReactor[r]) > 0)
                Mail(_outboxes[r], room.Id, line);
        }
    }

    // Appends `line` to this reactor's members of the room, but `except`. A member without room for it, even after
    // sending what it has buffered, is not waited for: it is marked, and aborted once the loop over the members is
    // done. Its close tells the room after this callback has returned (the loop defers OnClose), and that notice may
    // drop others in turn.
    private void Broadcast(int room, ChatClient? except, ReadOnlySpan<byte> line)
    {
        if (!_local.TryGetValue(room, out List<ChatClient>? members))
            return;
        foreach (ChatClient member in members)
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
        foreach (ChatClient slow in _slowConsumers)
            slow.Connection.Abort(SlowConsumerReason);
        _slowConsumers.Clear();
    }

    private void Notify(ChatRoom room, ChatClient? except, string notice) => ToRoom(room, except, Encoding.UTF8.GetBytes(notice));

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

    // Under the directory's lock, in the same hold as the room's lookup: a room cannot be forgotten (its last member
    // leaving on another reactor) between being found and being joined.
    private void AddMember(ChatClient client, ChatRoom room)
    {
        room.Members.Add(client);
        Volatile.Write(ref room.OnReactor[_reactor], room.OnReactor[_reactor] + 1);
        _directory.Counted(room, +1);
    }

    // The rest of joining, once AddMember has counted the client in: this reactor's list, and the room told.
    private void Join(ChatClient client, ChatRoom room)
    {
        if (!_local.TryGetValue(room.Id, out List<ChatClient>? members))
            _local.Add(room.Id, members = []);
        members.Add(client);
        client.Room = room;
        Notify(room, client, $"* {client.Nick} joined {room}");
    }

    private void Leave(ChatClient client, string notice)
    {
        ChatRoom room = client.Room!;
        lock (_directory.Lock)
        {
            room.Members.Remove(client);
            Volatile.Write(ref room.OnReactor[_reactor], room.OnReactor[_reactor] - 1);
            _directory.Counted(room, -1);
            _directory.ForgetIfEmpty(room);
        }
        List<ChatClient> members = _local[room.Id];
        members.Remove(client);
        if (members.Count == 0)
            _local.Remove(room.Id);
        client.Room = null;
        Notify(room, null, notice);
    }

    // The first connection on a reactor numbers this handler in the directory and hooks the mail into its loop.
    private void JoinReactors(Connection connection)
    {
        if (_loop is not null)
            return;
        _loop = connection.Context.Loop;
        _reactor = _directory.Register(this);
        _loop.AddBatchHook(_sendMail);
    }

    private static void Mail(ChatMail mail, int room, ReadOnlySpan<byte> line)
    {
        mail.Pending ??= mail.Rent();
        if (mail.Pending.Length - mail.Length < line.Length + 8)
        {
            byte[] larger = new byte[Math.Max(mail.Pending.Length * 2, mail.Length + line.Length + 8)];
            mail.Pending.AsSpan(0, mail.Length).CopyTo(larger);
            mail.Pending = larger;
        }
        mail.Length += WriteEntry(mail.Pending.AsSpan(mail.Length), room, line);
    }

    // An inbox entry: the room's id, the line's length, the line; the bytes written.
    private static int WriteEntry(Span<byte> entry, int room, ReadOnlySpan<byte> line)
    {
        BinaryPrimitives.WriteInt32LittleEndian(entry, room);
        BinaryPrimitives.WriteInt32LittleEndian(entry[4..], line.Length);
        line.CopyTo(entry[8..]);
        return line.Length + 8;
    }

    // At the end of each batch: what this reactor has for each other one goes over in one post, and what it has
    // for other servers to the backplane in one call.
    private void SendMail()
    {
        if (_toOtherServers is { IsEmpty: false } batch)
        {
            _backplane!.Publish(batch);
            _toOtherServers = null;
        }
        foreach (ChatMail mail in _outboxes)
        {
            if (mail.Pending is not { } buffer || mail.Length == 0)
                continue;
            mail.To.Deliver(mail, buffer, mail.Length);
            mail.Pending = null;
            mail.Length = 0;
        }
    }

    private void GrowOutboxes()
    {
        lock (_directory.Lock)
        {
            ChatMail[] grown = new ChatMail[_directory.Reactors.Count];
            _outboxes.CopyTo(grown, 0);
            for (int r = _outboxes.Length; r < grown.Length; r++)
                grown[r] = new ChatMail(_directory.Reactors[r]);
            _outboxes = grown;
        }
    }

    // Any thread (another reactor's, or the backplane's): the entries are read on this reactor's loop.
    private void Deliver(ChatMail? from, byte[] buffer, int length)
    {
        _inbox.Enqueue((from, buffer, length));
        if (Interlocked.Exchange(ref _inboxPosted, 1) == 0)
            _loop!.Post(_readInbox);
    }

    private void ReadInbox()
    {
        Volatile.Write(ref _inboxPosted, 0);   // before reading: what is queued from now on posts again
        while (_inbox.TryDequeue(out (ChatMail? From, byte[] Buffer, int Length) mail))
        {
            ReadOnlySpan<byte> entries = mail.Buffer.AsSpan(0, mail.Length);
            while (!entries.IsEmpty)
            {
                int room = BinaryPrimitives.ReadInt32LittleEndian(entries);
                int length = BinaryPrimitives.ReadInt32LittleEndian(entries[4..]);
                Broadcast(room, null, entries.Slice(8, length));
                entries = entries[(8 + length)..];
            }
            if (mail.From is { } from)
                from.Return(mail.Buffer);
            else
                FromElsewhereRead(mail.Buffer, mail.Length);
        }
        TellOverflowed();
    }

    // A line from another server is out of the inbox: its room under the limits is free again.
    private void FromElsewhereRead(byte[] buffer, int length)
    {
        Interlocked.Decrement(ref _elsewhereLines);
        Interlocked.Add(ref _elsewhereBytes, -length);
        ArrayPool<byte>.Shared.Return(buffer);
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

    // With a backplane only this server's members are counted at once; /who asks every server.
    private string Others(int count) => (count == 1 ? "1 other" : $"{count} others") + (_backplane is null ? "" : " on this server");
}
