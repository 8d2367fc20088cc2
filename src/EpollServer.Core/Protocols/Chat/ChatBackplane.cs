// Chat's side of a backplane (IChatBackplane): lines from other servers queued to this reactor and broadcast here,
// the notices when other servers drop out of reach and come back, and the commands that need every server's
// answer (/nick claims a nickname everywhere before it is taken; /who lists the room on every server).
using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace EpollServer.Protocols.Chat;

public sealed partial class ChatHandler
{
    public const string BackplaneLostNotice = "* messages from other servers are not being delivered (they cannot be reached); chat on this server goes on";
    public const string BackplaneBackNotice = "* messages from other servers are delivered again";

    private readonly ConcurrentQueue<ChatBatch> _batches = new();   // this reactor's, back from the backplane
    private ChatBatch? _toOtherServers;   // this batch's lines for other servers

    // Told to a room's members here, once per episode, when lines from other servers were dropped because this
    // reactor had ElsewhereLimits' worth waiting already (its loop fell behind what Redis delivers).
    public const string ElsewhereDroppedNotice = "* some messages from other servers were not delivered here (this server fell behind)";

    private int _elsewhereLines;   // lines from other servers waiting in the inbox (added under the directory's lock)
    private long _elsewhereBytes;
    private long _elsewhereOverflowed;   // lines dropped at the cap, ever
    private int _elsewherePeakLines;   // the most that ever waited (read by the stats; a test holds it to the cap)
    private long _elsewherePeakBytes;
    private int _overflowPending;   // 1 once a line was dropped since the last notice
    private readonly ConcurrentDictionary<int, byte> _overflowedRooms = new();

    private IEnumerable<KeyValuePair<string, long>> BackplaneCounters() =>
        _backplane is null ? [] :
        [
            new("backplane-overflowed", Interlocked.Read(ref _elsewhereOverflowed)),
            new("backplane-queued-lines", Volatile.Read(ref _elsewhereLines)),
            new("backplane-queued-bytes", Interlocked.Read(ref _elsewhereBytes)),
            new("backplane-queued-peak-lines", Volatile.Read(ref _elsewherePeakLines)),
            new("backplane-queued-peak-bytes", Interlocked.Read(ref _elsewherePeakBytes)),
            .. _reactor == 0 ? _backplane.Counters : [],
        ];

    // The backplane's thread, under the directory's lock (so one producer at a time): a line (already checked by
    // ChatText.IsPublishedLine) for this reactor's members of `room`, through the inbox other reactors' mail
    // takes, in a pooled copy. Beyond the limits the line is dropped and counted, and the room told once.
    internal void DeliverFromElsewhere(int room, ReadOnlySpan<byte> line)
    {
        ChatInboxLimits limits = _directory.InboxLimits;
        int bytes = line.Length + 8;
        if (_elsewhereLines + 1 > limits.Lines || _elsewhereBytes + bytes > limits.Bytes)
        {
            Overflowed(room);
            return;
        }
        Volatile.Write(ref _elsewherePeakLines, Math.Max(_elsewherePeakLines, Interlocked.Increment(ref _elsewhereLines)));
        Volatile.Write(ref _elsewherePeakBytes, Math.Max(_elsewherePeakBytes, Interlocked.Add(ref _elsewhereBytes, bytes)));
        byte[] copy = ArrayPool<byte>.Shared.Rent(bytes);
        Deliver(null, copy, WriteEntry(copy, room, line));
    }

    // The backplane's thread, under the directory's lock: a line for the room was dropped before it reached here.
    internal void OverflowedElsewhere(int room) => Overflowed(room);

    private void Overflowed(int room)
    {
        Interlocked.Increment(ref _elsewhereOverflowed);
        _overflowedRooms.TryAdd(room, 0);
        Volatile.Write(ref _overflowPending, 1);
        if (Interlocked.Exchange(ref _inboxPosted, 1) == 0)
            _loop!.Post(_readInbox);   // the notice goes out even if nothing else is queued
    }

    // The loop, once the inbox is drained: one notice to each room that lost lines since the last one.
    private void TellOverflowed()
    {
        if (Interlocked.Exchange(ref _overflowPending, 0) == 0)
            return;
        foreach (int room in _overflowedRooms.Keys)
        {
            _overflowedRooms.TryRemove(room, out _);
            Broadcast(room, null, ElsewhereDroppedNoticeUtf8);
        }
    }

    private static readonly byte[] ElsewhereDroppedNoticeUtf8 = Encoding.UTF8.GetBytes(ElsewhereDroppedNotice);

    // The longest line this server could publish itself, and so the longest it takes from another server.
    internal int MaxMessageLength => _message.Length;

    // The backplane's thread: a notice to every client of this reactor, in every room.
    internal void TellEveryone(string notice)
    {
        if (_loop is null)
            return;
        byte[] line = Encoding.UTF8.GetBytes(notice);
        _loop.Post(() =>
        {
            foreach (int room in _local.Keys.ToList())
                Broadcast(room, null, line);
        });
    }

    // The backplane's thread: the client's nickname belongs to another server (claimed there while this one was cut
    // off, or at the same moment): the client becomes a guest again and the room is told.
    internal void NickTakenElsewhere(ChatClient client, string nick) => _loop!.Post(() =>
    {
        if (client.Connection.IsClosing || client.Nick != nick)
            return;
        string fresh;
        lock (_directory.Lock)
        {
            _directory.ReleaseNick(nick);
            fresh = _directory.NextGuestNick();
            _directory.TryTakeNick(fresh, client);
            client.Rename(fresh);
            _backplane!.Leave(nick);
            _backplane.Enter(fresh, client.Room!.Name);
        }
        Reply(client, $"* your nickname {nick} belongs to someone on another server; you are now {fresh}");
        Notify(client.Room!, client, $"* {nick} is now {fresh}");
    });

    // /nick with a backplane: `nick` is held here already; the backplane claims it everywhere before it is taken.
    // The client's next lines wait (reading paused) until the answer, so they go out under the name it asked for.
    private void RenameAcrossServers(ChatClient client, string nick)
    {
        if (!_backplane!.IsConnected)
        {
            lock (_directory.Lock)
                _directory.ReleaseNick(nick);
            Refuse(client, "ERR nicknames cannot change while other servers cannot be reached; try again soon");
            return;
        }
        string old = client.Nick;
        client.PendingNick = nick;
        client.Connection.PauseReading();
        _backplane.Rename(old, nick, client.Room!.Name, held => _loop!.Post(() => Renamed(client, old, nick, held)));
    }

    private void Renamed(ChatClient client, string old, string nick, bool held)
    {
        client.PendingNick = null;
        if (client.Connection.IsClosing)
            return;   // its close released both names
        client.Connection.ResumeReading();
        lock (_directory.Lock)
        {
            _directory.ReleaseNick(held ? old : nick);   // names that differ beyond case (ChangeNick)
            if (held)
                client.Rename(nick);
        }
        if (!held)
        {
            Refuse(client, $"ERR nickname '{nick}' is taken");
            return;
        }
        Reply(client, $"* you are now {nick}");
        Notify(client.Room!, client, $"* {old} is now {nick}");
    }

    // /who with a backplane: this server's members now, the other servers' when they answer.
    private void ListRoomAcrossServers(ChatClient client, List<string> here)
    {
        ChatRoom room = client.Room!;
        _backplane!.Who(room.Name, elsewhere => _loop!.Post(() =>
        {
            if (client.Connection.IsClosing)
                return;
            List<string> names = [.. here, .. elsewhere ?? []];
            string unreachable = elsewhere is null ? " (other servers cannot be reached)" : "";
            Reply(client, WhoLine(room, names) + unreachable);
        }));
    }
}
