// Chat across servers: rooms, nicknames and /who shared with other servers through a broker (the daemon's
// --backplane; EpollServer.Backplane.Redis is the one it ships). Every call comes from a loop thread and must return
// at once: an implementation queues the work for threads of its own and never waits on the network on a loop.
// What other servers send comes back through IChatBackplaneListener (the directory) on the backplane's threads, and
// the directory hands it to the reactors' queues.
namespace EpollServer.Protocols.Chat;

public interface IChatBackplane : IDisposable
{
    // False while the broker cannot be reached: lines for other servers are dropped (and counted), not queued.
    bool IsConnected { get; }

    // What it has published, received and dropped, for the stats and /metrics.
    IEnumerable<KeyValuePair<string, long>> Counters { get; }

    // Once, before any other call.
    void Start(IChatBackplaneListener listener);

    // One batch of a reactor's room lines; the backplane calls batch.Release() once it no longer reads it.
    void Publish(ChatBatch batch);

    // This server has its first member in `room` (true) or its last one left (false).
    void Watch(string room, bool watching);

    // A local client appeared as `nick` in `room`: its nickname is claimed for this server across every server (a
    // claim another server already holds comes back as IChatBackplaneListener.NickLost).
    void Enter(string nick, string room);

    // A local client moved to `room`.
    void Move(string nick, string room);

    // A local client left: its nickname is released.
    void Leave(string nick);

    // Claims `to` for a local client now named `from`, in `room`; `answer(true)` once it is held (and `from`
    // released), `answer(false)` when another server holds it or the broker cannot be reached.
    void Rename(string from, string to, string room, Action<bool> answer);

    // The nicknames in `room` on the other servers; `answer(null)` when they cannot be asked.
    void Who(string room, Action<IReadOnlyList<string>?> answer);
}

// What a backplane tells the server, from its own threads.
public interface IChatBackplaneListener
{
    // A line another server published to a room this one watches; false when it is not a line a server like this
    // one publishes (invalid UTF-8, a control character, more than one line, too long, or not "<NICK> text" or
    // "* NICK text"): it was dropped, and the backplane counts it as rejected.
    bool Deliver(string room, ReadOnlySpan<byte> line);

    // A line for `room` was dropped before it could be checked (the backplane's own queue from the broker was full):
    // counted, and the room's members here told, as when a reactor's inbox is full.
    void Overflowed(string room);

    // The broker became unreachable (false) or reachable again (true).
    void ConnectionChanged(bool connected);

    // A nickname a local client held (or was claiming) belongs to another server.
    void NickLost(string nick);
}
