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

    private static RedisKey NickKey(string nick) => KeyPrefix + "nick:" + ChatText.Fold(nick);

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
                RoomChannel channel = ChannelOf(room, name);
                Subscriber.Publish(channel.Channel, Payload(channel.Folded, line), CommandFlags.FireAndForget);
                Interlocked.Increment(ref _published);
            }
        }
        finally
        {
            batch.Release();
        }
        return true;
    }

    // A room's channel and its folded name, made once per room name (the lookup decodes into a stack buffer: no
    // string per line).
    private RoomChannel ChannelOf(ReadOnlySpan<byte> room, Span<char> scratch)
    {
        int length = Encoding.UTF8.GetChars(room, scratch);
        var lookup = _channels.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(scratch[..length], out RoomChannel? channel))
            return channel;
        string name = new(scratch[..length]);
        return _channels[name] = new RoomChannel(ChannelOf(name), ChatText.Fold(name));
    }

    private sealed record RoomChannel(RedisChannel Channel, string Folded);

    private static RedisChannel ChannelOf(string room) => RedisChannel.Literal(KeyPrefix + "room:" + ChatText.Fold(room));

    private async Task WatchAsync(string room)
    {
        if (_watched.TryGetValue(room, out ChannelMessageQueue? queue) && queue is not null)
            return;
        _watched[room] = null;   // wanted; subscribed again on reconnect if this fails
        if (!IsConnected)
            return;
        queue = await Subscriber.SubscribeAsync(ChannelOf(room)).ConfigureAwait(false);
        string folded = ChatText.Fold(room);
        queue.OnMessage(message => Received(queue, room, folded, message));
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

    private async Task EnterAsync(string nick, string room)
    {
        _members[nick] = (nick, room);
        if (!IsConnected)
            return;   // claimed at the next heartbeat after Redis is back
        if (await ClaimOrFailAsync(nick).ConfigureAwait(false) == false)
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
            await Database.HashSetAsync(_membersKey, ChatText.Fold(nick), MemberValue(nick, room)).ConfigureAwait(false);
    }

    private async Task LeaveAsync(string nick)
    {
        if (!_members.Remove(nick))
            return;
        if (!IsConnected)
            return;   // the hash is written afresh at the next heartbeat, and the name expires
        await ReleaseAsync(nick).ConfigureAwait(false);
        await Database.HashDeleteAsync(_membersKey, ChatText.Fold(nick)).ConfigureAwait(false);
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

    // The worker: /who runs beside the worker's other work (started here, after what was queued before it, such as
    // the room's subscription), so that a slow one does not hold up the lines queued behind it.
    private Task StartWho(string room, Action<IReadOnlyList<string>?> answer)
    {
        _ = Task.Run(async () =>
        {
            await _whoSlots.WaitAsync().ConfigureAwait(false);
            try
            {
                answer(await WhoAsync(room).ConfigureAwait(false));
            }
#pragma warning disable CA1031 // answered as failed, as the worker answers what it could not do
            catch (Exception e)
#pragma warning restore CA1031
            {
                Failed(new Work(WorkKind.Who, Room: room), e);
                answer(null);
            }
            finally
            {
                _whoSlots.Release();
            }
        });
        return Task.CompletedTask;
    }

    // The nicknames in `room` on other servers seen alive within the TTL, trusting nothing read: at most
    // MaxServersAsked servers (the most recently refreshed), ids and names that this server would itself write, at
    // most MaxEntriesPerServer entries read from each; null when Redis cannot be reached.
    private async Task<IReadOnlyList<string>?> WhoAsync(string room)
    {
        if (!IsConnected)
            return null;
        double since = _time.GetUtcNow().ToUnixTimeMilliseconds() - TimeToLive.TotalMilliseconds;
        RedisValue[] servers = await Database.SortedSetRangeByScoreAsync(ServersKey, since, double.PositiveInfinity, Exclude.None,
            Order.Descending, 0, MaxServersAsked + 1).ConfigureAwait(false);
        var names = new List<string>();
        foreach (RedisValue server in servers.Where(s => s != Id && IsServerId(s)).Take(MaxServersAsked))
        {
            int read = 0;
            await foreach (HashEntry member in Database.HashScanAsync(MembersKey(server!), pageSize: 250).ConfigureAwait(false))
            {
                (string memberRoom, string nick) = SplitMember(member.Value.ToString());
                if (ChatText.SameName(memberRoom, room) && ChatText.IsValidNick(nick))
                    names.Add(nick);
                if (++read >= MaxEntriesPerServer)
                    break;
            }
        }
        return names;
    }

    private static bool IsServerId(RedisValue value) => value.ToString() is { Length: OriginLength } id && !id.AsSpan().ContainsAnyExcept(LowerHexChars);

    // Every TTL/3: this server is alive and its members are written afresh for /who (first, so that nothing below
    // can cost its presence), then each nickname is claimed again on its own: a name taken elsewhere while Redis
    // was away, or whose key is not a string (WRONGTYPE), is given up; one that timed out is tried again next time.
    private async Task HeartbeatAsync()
    {
        if (!IsConnected)
            return;
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        ITransaction rewrite = Database.CreateTransaction();
        _ = rewrite.SortedSetAddAsync(ServersKey, Id, now);
        _ = rewrite.SortedSetRemoveRangeByScoreAsync(ServersKey, double.NegativeInfinity, now - 2 * TimeToLive.TotalMilliseconds);
        _ = rewrite.KeyDeleteAsync(_membersKey);
        if (_members.Count > 0)
            _ = rewrite.HashSetAsync(_membersKey, [.. _members.Values.Select(m => new HashEntry(ChatText.Fold(m.Nick), MemberValue(m.Nick, m.Room)))]);
        _ = rewrite.KeyExpireAsync(_membersKey, TimeToLive);
        await rewrite.ExecuteAsync().ConfigureAwait(false);
        var claims = _members.Values.Select(m => (m.Nick, Held: ClaimOrFailAsync(m.Nick))).ToList();
        await Task.WhenAll(claims.Select(c => c.Held)).ConfigureAwait(false);
        foreach ((string nick, Task<bool?> held) in claims.Where(c => c.Held.Result == false))
        {
            _members.Remove(nick);
            await Database.HashDeleteAsync(_membersKey, ChatText.Fold(nick)).ConfigureAwait(false);
            _listener!.NickLost(nick);
        }
    }

    // True: held; false: another server's, or its key unusable (so lost); null: no answer this time.
    private async Task<bool?> ClaimOrFailAsync(string nick)
    {
        try
        {
            return await ClaimAsync(nick).ConfigureAwait(false);
        }
        catch (RedisServerException e)
        {
            _logger.LogWarning("backplane: the nickname {Nick} cannot be claimed ({Error}); it is given up", nick, e.Message);
            return false;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return null;
        }
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
