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

    private IEnumerable<KeyValuePair<string, long>> BackplaneCounters() =>
        _backplane is not null && _reactor == 0 ? _backplane.Counters : [];

    // The backplane's thread, under the directory's lock: a line for this reactor's members of `room`, through the
    // inbox other reactors' mail takes, in a pooled copy. A line longer than any this server could send itself is
    // not from a server like it: passed on, it would disconnect every member as a slow consumer, so it is dropped.
    internal void DeliverFromElsewhere(int room, ReadOnlySpan<byte> line)
    {
        if (line.Length > _message.Length)
            return;
        byte[] copy = ArrayPool<byte>.Shared.Rent(line.Length + 8);
        Deliver(null, copy, WriteEntry(copy, room, line));
    }

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
