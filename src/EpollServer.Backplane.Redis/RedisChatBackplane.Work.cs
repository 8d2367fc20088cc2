// The worker's side: each queued piece of work as Redis commands, the connection's ups and downs, and the lines
// other servers publish (on StackExchange.Redis's threads, one room's lines in order).
using System.Buffers;
using System.Text;
using EpollServer.Protocols.Chat;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace EpollServer.Backplane.Redis;

public sealed partial class RedisChatBackplane
{
    private enum WorkKind { Publish, Watch, Unwatch, Enter, Move, Leave, Rename, Who, Heartbeat, Resubscribe, Stop }

    // One piece of work; a struct, so that queueing a reactor's batch allocates nothing.
    private readonly record struct Work(WorkKind Kind, ChatBatch? Batch = null, string? Nick = null, string? Room = null,
        string? To = null, Delegate? Answer = null);

    private IDatabase Database => _redis!.GetDatabase();

    private ISubscriber Subscriber => _redis!.GetSubscriber();

    private static RedisKey NickKey(string nick) => KeyPrefix + "nick:" + nick.ToLowerInvariant();

    private static RedisKey ServersKey => KeyPrefix + "servers";

    private static RedisKey MembersKey(string server) => KeyPrefix + "server:" + server;

    // Each line as one PUBLISH (fire and forget: pipelined, in order); a line that cannot be sent is counted.
    private bool PublishNow(ChatBatch batch)
    {
        Interlocked.Decrement(ref _queuedBatches);
        try
        {
            Span<char> name = stackalloc char[256];
            for (int offset = 0; batch.TryRead(ref offset, out ReadOnlySpan<byte> room, out ReadOnlySpan<byte> line);)
            {
                if (!IsConnected)
                {
                    Interlocked.Increment(ref _dropped);
                    continue;
                }
                byte[] payload = new byte[_origin.Length + line.Length];
                _origin.CopyTo(payload, 0);
                line.CopyTo(payload.AsSpan(_origin.Length));
                Subscriber.Publish(ChannelOf(room, name), payload, CommandFlags.FireAndForget);
                Interlocked.Increment(ref _published);
            }
        }
        finally
        {
            batch.Release();
        }
        return true;
    }

    // The room's channel, made once per room name (the lookup decodes into a stack buffer: no string per line).
    private RedisChannel ChannelOf(ReadOnlySpan<byte> room, Span<char> scratch)
    {
        int length = Encoding.UTF8.GetChars(room, scratch);
        var lookup = _channels.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(scratch[..length], out RedisChannel channel))
            return channel;
        string name = new(scratch[..length]);
        return _channels[name] = ChannelOf(name);
    }

    private static RedisChannel ChannelOf(string room) => RedisChannel.Literal(KeyPrefix + "room:" + room.ToLowerInvariant());

    private async Task WatchAsync(string room)
    {
        if (_watched.TryGetValue(room, out ChannelMessageQueue? queue) && queue is not null)
            return;
        _watched[room] = null;   // wanted; subscribed again on reconnect if this fails
        if (!IsConnected)
            return;
        queue = await Subscriber.SubscribeAsync(ChannelOf(room)).ConfigureAwait(false);
        queue.OnMessage(message => Received(room, message));
        _watched[room] = queue;
    }

    private async Task UnwatchAsync(string room)
    {
        if (!_watched.Remove(room, out ChannelMessageQueue? queue) || queue is null)
            return;
        await queue.UnsubscribeAsync().ConfigureAwait(false);
    }

    private async Task ResubscribeAsync()
    {
        foreach (string room in _watched.Where(w => w.Value is null).Select(w => w.Key).ToList())
            await WatchAsync(room).ConfigureAwait(false);
    }

    // StackExchange.Redis's thread, one room's lines in order: another server's line goes to this server's members.
    private void Received(string room, ChannelMessage message)
    {
        byte[]? payload = (byte[]?)message.Message;
        if (payload is null || payload.Length < _origin.Length || payload.AsSpan(0, _origin.Length).SequenceEqual(_origin))
            return;   // this server's own line (its members had it at once), or not one of ours
        Interlocked.Increment(ref _received);
        _listener!.Deliver(room, payload.AsSpan(_origin.Length));
    }

    private async Task EnterAsync(string nick, string room)
    {
        _members[nick] = (nick, room);
        if (!IsConnected)
            return;   // claimed at the next heartbeat after Redis is back
        bool held = await ClaimAsync(nick).ConfigureAwait(false);
        if (!held)
        {
            _members.Remove(nick);
            _listener!.NickLost(nick);
            return;
        }
        await MoveAsync(nick, room).ConfigureAwait(false);
    }

    // The name is already this server's: only where it is changes.
    private async Task MoveAsync(string nick, string room)
    {
        _members[nick] = (nick, room);
        if (IsConnected)
            await Database.HashSetAsync(_membersKey, nick.ToLowerInvariant(), MemberValue(nick, room)).ConfigureAwait(false);
    }

    private async Task LeaveAsync(string nick)
    {
        if (!_members.Remove(nick))
            return;
        if (!IsConnected)
            return;   // the hash is written afresh at the next heartbeat, and the name expires
        await ReleaseAsync(nick).ConfigureAwait(false);
        await Database.HashDeleteAsync(_membersKey, nick.ToLowerInvariant()).ConfigureAwait(false);
    }

    private async Task RenameAsync(string from, string to, string room, Action<bool> answer)
    {
        bool held = IsConnected && await ClaimAsync(to).ConfigureAwait(false);
        if (held)
        {
            await LeaveAsync(from).ConfigureAwait(false);
            await EnterAsync(to, room).ConfigureAwait(false);
        }
        answer(held);
    }

    // The nicknames in `room` on every other server seen alive within the TTL.
    private async Task WhoAsync(string room, Action<IReadOnlyList<string>?> answer)
    {
        if (!IsConnected)
        {
            answer(null);
            return;
        }
        double since = _time.GetUtcNow().ToUnixTimeMilliseconds() - TimeToLive.TotalMilliseconds;
        RedisValue[] servers = await Database.SortedSetRangeByScoreAsync(ServersKey, since, double.PositiveInfinity).ConfigureAwait(false);
        var names = new List<string>();
        foreach (RedisValue server in servers)
        {
            if (server == Id)
                continue;
            foreach (HashEntry member in await Database.HashGetAllAsync(MembersKey(server!)).ConfigureAwait(false))
            {
                (string memberRoom, string nick) = SplitMember(member.Value!);
                if (string.Equals(memberRoom, room, StringComparison.OrdinalIgnoreCase))
                    names.Add(nick);
            }
        }
        answer(names);
    }

    // Every TTL/3: this server is alive, its nicknames are still its own (a name taken elsewhere while Redis was
    // away is given up), and its members are written afresh for /who.
    private async Task HeartbeatAsync()
    {
        if (!IsConnected)
            return;
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        await Database.SortedSetAddAsync(ServersKey, Id, now).ConfigureAwait(false);
        await Database.SortedSetRemoveRangeByScoreAsync(ServersKey, double.NegativeInfinity, now - 2 * TimeToLive.TotalMilliseconds).ConfigureAwait(false);
        var claims = _members.Values.Select(m => (m.Nick, Held: ClaimAsync(m.Nick))).ToList();
        await Task.WhenAll(claims.Select(c => c.Held)).ConfigureAwait(false);
        foreach ((string nick, Task<bool> held) in claims.Where(c => !c.Held.Result))
        {
            _members.Remove(nick);
            _listener!.NickLost(nick);
        }
        ITransaction rewrite = Database.CreateTransaction();
        _ = rewrite.KeyDeleteAsync(_membersKey);
        if (_members.Count > 0)
            _ = rewrite.HashSetAsync(_membersKey, [.. _members.Values.Select(m => new HashEntry(m.Nick.ToLowerInvariant(), MemberValue(m.Nick, m.Room)))]);
        _ = rewrite.KeyExpireAsync(_membersKey, TimeToLive);
        await rewrite.ExecuteAsync().ConfigureAwait(false);
    }

    private async Task<bool> ClaimAsync(string nick) =>
        (int)await Database.ScriptEvaluateAsync(ClaimScript, [NickKey(nick)], [Id, (long)TimeToLive.TotalSeconds]).ConfigureAwait(false) == 1;

    private Task<RedisResult> ReleaseAsync(string nick) => Database.ScriptEvaluateAsync(ReleaseScript, [NickKey(nick)], [Id]);

    private static string MemberValue(string nick, string room) => room + "\n" + nick;

    private static (string Room, string Nick) SplitMember(string value)
    {
        int newline = value.IndexOf('\n', StringComparison.Ordinal);
        return newline < 0 ? ("", value) : (value[..newline], value[(newline + 1)..]);
    }

    // Leaving cleanly (the daemon stops): nicknames and memberships are given back now, not at the TTL.
    private async Task StopAsync()
    {
        if (!IsConnected)
            return;
        await Task.WhenAll(_members.Values.Select(m => ReleaseAsync(m.Nick))).ConfigureAwait(false);
        await Database.KeyDeleteAsync(_membersKey).ConfigureAwait(false);
        await Database.SortedSetRemoveAsync(ServersKey, Id).ConfigureAwait(false);
        _members.Clear();
    }

    private void OnConnectionFailed(ConnectionFailedEventArgs e)
    {
        if (Interlocked.Exchange(ref _connected, 0) == 0)
            return;
        _logger.LogWarning("backplane: lost Redis at {Endpoint} ({Failure}); chat on this server goes on, and Redis is retried", Endpoint, e.FailureType);
        _listener!.ConnectionChanged(false);
    }

    private void OnConnectionRestored()
    {
        if (_redis is { IsConnected: true })
            BecomeConnected();
    }

    // Redis is (back) there: claims and memberships are written again, and rooms whose subscription failed retried.
    private void BecomeConnected()
    {
        if (Interlocked.Exchange(ref _connected, 1) == 1)
            return;
        _logger.LogInformation("backplane: connected to Redis at {Endpoint} as server {Id}", Endpoint, Id);
        Queue(new Work(WorkKind.Heartbeat));
        Queue(new Work(WorkKind.Resubscribe));
        _listener!.ConnectionChanged(true);
    }
}
