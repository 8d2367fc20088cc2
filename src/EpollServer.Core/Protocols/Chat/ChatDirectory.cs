// What the chat handlers of one server share across their reactors: every nickname, every room and who is in it
// (and on which reactor), and each reactor's inbox for room traffic from the others. Joins, leaves, renames and
// /who take its lock; they are commands, not messages. A message reads only its room's per-reactor member counts
// (ChatRoom.OnReactor), so the per-message path takes no lock and shares nothing but those counts. With a
// backplane, the directory is what other servers talk to: their lines go to the reactors holding the room's members.
using System.Collections.Concurrent;
using System.Text;

namespace EpollServer.Protocols.Chat;

public sealed class ChatDirectory : IChatBackplaneListener
{
    private readonly Dictionary<string, ChatClient> _byNick = new(ChatText.NameComparer);
    private readonly Dictionary<string, ChatRoom> _rooms = new(ChatText.NameComparer);
    private readonly List<ChatHandler> _reactors = [];
    private long _nextGuest;
    private int _nextRoomId;
    private int _reactorCount;

    public ChatDirectory()
        : this(null)
    {
    }

    // With a backplane, guest nicknames carry a tag of this server's (guestabc1), so that servers do not hand out
    // the same guestN at once; the backplane still claims each one.
    public ChatDirectory(IChatBackplane? backplane, ChatInboxLimits? inboxLimits = null)
    {
        Backplane = backplane;
        InboxLimits = inboxLimits ?? ChatInboxLimits.Default;
        GuestPrefix = backplane is null ? "guest" : "guest" + string.Concat(Enumerable.Range(0, 3).Select(_ => (char)('a' + Random.Shared.Next(26))));
        Lobby = NewRoom(ChatHandler.DefaultRoomName);
        backplane?.Start(this);
    }

    internal IChatBackplane? Backplane { get; }

    // What may wait for each reactor from other servers.
    public ChatInboxLimits InboxLimits { get; }

    internal string GuestPrefix { get; }

    internal object Lock { get; } = new();

    internal ChatRoom Lobby { get; }

    // The handlers that have served a connection, by reactor number: where room traffic is posted.
    internal IReadOnlyList<ChatHandler> Reactors => _reactors;

    // How many there are, read without the lock by the message path (a handler then grows its mail to match).
    internal int ReactorCount => Volatile.Read(ref _reactorCount);

    public int Clients
    {
        get
        {
            lock (Lock)
                return _byNick.Count;
        }
    }

    public int Rooms
    {
        get
        {
            lock (Lock)
                return _rooms.Count;
        }
    }

    // A reactor's handler, numbered the first time it serves a connection.
    internal int Register(ChatHandler handler)
    {
        lock (Lock)
        {
            _reactors.Add(handler);
            Volatile.Write(ref _reactorCount, _reactors.Count);
            return _reactors.Count - 1;
        }
    }

    // Under Lock. A fresh guestN nobody holds.
    internal string NextGuestNick()
    {
        string nick;
        do
            nick = $"{GuestPrefix}{++_nextGuest}";
        while (_byNick.ContainsKey(nick));
        return nick;
    }

    // Under Lock.
    internal bool TryTakeNick(string nick, ChatClient client)
    {
        if (_byNick.TryGetValue(nick, out ChatClient? holder))
            return holder == client;
        _byNick.Add(nick, client);
        return true;
    }

    internal void ReleaseNick(string nick) => _byNick.Remove(nick);

    // Under Lock.
    internal ChatClient? HolderOf(string nick) => _byNick.GetValueOrDefault(nick);

    // Under Lock.
    internal ChatRoom RoomNamed(string name)
    {
        if (!_rooms.TryGetValue(name, out ChatRoom? room))
            room = NewRoom(name);
        return room;
    }

    // Under Lock: a room nobody is in is forgotten (the lobby is kept).
    internal void ForgetIfEmpty(ChatRoom room)
    {
        if (room.Members.Count == 0 && room != Lobby)
            _rooms.Remove(room.Name);
    }

    private ChatRoom NewRoom(string name)
    {
        var room = new ChatRoom(name, _nextRoomId++);
        _rooms.Add(name, room);
        return room;
    }

    // Under Lock, as a member is counted in or out: the backplane watches a room while this server has members there.
    internal void Counted(ChatRoom room, int change)
    {
        if (Backplane is not null && room.Members.Count == (change > 0 ? 1 : 0))
            Backplane.Watch(room.Name, change > 0);
    }

    // The backplane's thread: a line that passes every check a local line passes, and has the shape this server
    // publishes, to each reactor with members in the room, through its queue; false for any other line.
    bool IChatBackplaneListener.Deliver(string room, ReadOnlySpan<byte> line)
    {
        lock (Lock)
        {
            if (_reactors.Count == 0 || !_rooms.TryGetValue(room, out ChatRoom? found))
                return true;   // its last member here left while the line was on its way
            if (!ChatText.IsPublishedLine(line, _reactors[0].MaxMessageLength))
                return false;
            for (int r = 0; r < _reactors.Count; r++)
            {
                if (found.OnReactor[r] > 0)
                    _reactors[r].DeliverFromElsewhere(found.Id, line);
            }
            return true;
        }
    }

    void IChatBackplaneListener.Overflowed(string room)
    {
        lock (Lock)
        {
            if (!_rooms.TryGetValue(room, out ChatRoom? found))
                return;
            for (int r = 0; r < _reactors.Count; r++)
            {
                if (found.OnReactor[r] > 0)
                    _reactors[r].OverflowedElsewhere(found.Id);
            }
        }
    }

    void IChatBackplaneListener.ConnectionChanged(bool connected)
    {
        string notice = connected ? ChatHandler.BackplaneBackNotice : ChatHandler.BackplaneLostNotice;
        lock (Lock)
        {
            foreach (ChatHandler reactor in _reactors)
                reactor.TellEveryone(notice);
        }
    }

    void IChatBackplaneListener.NickLost(string nick)
    {
        lock (Lock)
        {
            if (HolderOf(nick) is { } client)
                client.Owner.NickTakenElsewhere(client, nick);
        }
    }
}

// A room, as every reactor sees it: its members (all reactors', under the directory's lock) and how many of them each
// reactor holds, which is what a message reads to know where to go.
internal sealed class ChatRoom(string name, int id)
{
    public const int MaxReactors = 1024;

    public string Name { get; } = name;

    // The name as UTF-8, as a line for other servers is addressed.
    public byte[] NameUtf8 { get; } = Encoding.UTF8.GetBytes(name);

    public int Id { get; } = id;

    // Every member, for /who and the counts in notices; under the directory's lock.
    public List<ChatClient> Members { get; } = [];

    // Members per reactor number, written under the lock and read without it by the message path: a message sent as
    // someone joins elsewhere may miss them, as it would had it been sent a moment earlier.
    public int[] OnReactor { get; } = new int[MaxReactors];

    public override string ToString() => "#" + Name;
}

// Room traffic from one reactor to another, batched: entries of (room id, line), appended during a batch and handed
// over at its end in one post. Buffers go back to their sender's pool once read, so steady traffic allocates nothing.
internal sealed class ChatMail
{
    private readonly ConcurrentQueue<byte[]> _spare = new();

    public ChatMail(ChatHandler to) => To = to;

    public ChatHandler To { get; }

    public byte[]? Pending { get; set; }

    public int Length { get; set; }

    public byte[] Rent() => _spare.TryDequeue(out byte[]? buffer) ? buffer : new byte[64 * 1024];

    public void Return(byte[] buffer) => _spare.Enqueue(buffer);
}

// How much from other servers may wait for one reactor (in lines, and in bytes with 8 bytes of framing each) before
// more is dropped: a publish flood through Redis, faster than a loop can hand it out, costs at most this much memory
// per reactor. 4,096 lines and 1 MiB: far more than a loop that keeps up ever has waiting (it empties its inbox at
// every wake-up), and small beside the members' own output rings (native-notes/limits.md).
public sealed record ChatInboxLimits(int Lines, long Bytes)
{
    public static ChatInboxLimits Default { get; } = new(4096, 1024 * 1024);
}
