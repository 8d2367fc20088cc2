// Chat across servers through Redis (native-notes/backplane.md says why StackExchange.Redis and how it measured):
//   rooms       one channel per room (epollserver:chat:room:NAME), subscribed while this server has a member there;
//               each payload is this server's 16-character id, a sequence number, a MAC with --backplane-key, and the
//               line (Payload.cs, which also says what is accepted from others); a server skips its own lines;
//   nicknames   epollserver:chat:nick:NAME = the owning server's id, SET NX with a TTL this server refreshes while
//               alive (a dead server's names come free within the TTL), deleted only by their owner;
//   /who        epollserver:chat:server:ID, a hash (nickname -> room) with the same TTL, and epollserver:chat:servers,
//               the servers seen alive (a sorted set scored by their last refresh).
// Loop threads only queue work (a struct channel: no allocation per item) and never wait; one worker task runs the
// work in order (so a client's lines leave in the order they were sent), and StackExchange.Redis's own threads
// deliver what other servers publish. Lines meant for other servers while Redis is unreachable, or while too many
// are queued behind a slow Redis, are dropped and counted.
using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using EpollServer.Protocols.Chat;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace EpollServer.Backplane.Redis;

public sealed partial class RedisChatBackplane : IChatBackplane
{
    public const string KeyPrefix = "epollserver:chat:";
    public static readonly TimeSpan DefaultTimeToLive = TimeSpan.FromSeconds(15);

    // Batches queued for the worker beyond which a reactor's lines are dropped rather than queued (Redis too slow):
    // at least 16 KiB each, so a Redis that stops answering holds at most some 16 MiB here.
    private const int MaxQueuedBatches = 1024;

    // /who asks at most this many other servers (a Redis publisher could list thousands), reads at most this many
    // entries of each one's hash, and runs at most this many at once beside the worker.
    public const int MaxServersAsked = 64;
    public const int MaxEntriesPerServer = 1000;
    private const int MaxWhoAtOnce = 4;

    // Atomically: take the nickname if it is free, or keep it (refreshing its TTL) if this server holds it.
    private const string ClaimScript = """
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]) return 1 end
        return 0
        """;

    // Atomically: delete the nickname only if this server holds it.
    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;

    private readonly ConfigurationOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<Work> _work = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, ChannelMessageQueue?> _watched = new(ChatText.NameComparer);   // worker only
    private readonly Dictionary<string, (string Nick, string Room)> _members = new(ChatText.NameComparer);   // worker only
    private readonly Dictionary<string, RoomChannel> _channels = new(StringComparer.Ordinal);   // worker only; by the room's own spelling
    private readonly SemaphoreSlim _whoSlots = new(MaxWhoAtOnce);
    private readonly byte[] _origin;
    private readonly RedisKey _membersKey;
    private ConnectionMultiplexer? _redis;
    private IChatBackplaneListener? _listener;
    private ITimer? _heartbeat;
    private Task _worker = Task.CompletedTask;
    private int _connected;
    private int _queuedBatches;
    private long _published;
    private long _received;
    private long _dropped;

    // key: --backplane-key's bytes; every server on the Redis must have the same one (or none).
    public RedisChatBackplane(RedisEndpoint endpoint, ILogger logger, TimeSpan? timeToLive = null, TimeProvider? time = null, byte[]? key = null)
    {
        _key = key is { Length: > 0 } ? key : null;
        Endpoint = endpoint;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        TimeToLive = timeToLive ?? DefaultTimeToLive;
        Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        _origin = Encoding.ASCII.GetBytes(Id);
        _membersKey = KeyPrefix + "server:" + Id;
        _options = endpoint.Options(Id);
    }

    public RedisEndpoint Endpoint { get; }

    // This server's id among the others (16 hex characters; fresh for every start).
    public string Id { get; }

    public TimeSpan TimeToLive { get; }

    public bool IsConnected => Volatile.Read(ref _connected) == 1;

    public IEnumerable<KeyValuePair<string, long>> Counters =>
    [
        new("backplane-connected", Volatile.Read(ref _connected)),
        new("backplane-published", Interlocked.Read(ref _published)),
        new("backplane-received", Interlocked.Read(ref _received)),
        new("backplane-dropped", Interlocked.Read(ref _dropped)),
        new("backplane-rejected", Interlocked.Read(ref _rejected)),
    ];

    // Connects (waiting up to the connect timeout, 2 s, when Redis is not there: chat then starts without it, and
    // StackExchange.Redis retries with back-off) and starts the worker.
    public void Start(IChatBackplaneListener listener)
    {
        _listener = listener;
        _redis = ConnectionMultiplexer.Connect(_options);
        _redis.ConnectionFailed += (_, e) => OnConnectionFailed(e);
        _redis.ConnectionRestored += (_, _) => OnConnectionRestored();
        if (_redis.IsConnected)
            BecomeConnected();
        else
            _logger.LogWarning("backplane: Redis at {Endpoint} cannot be reached; chat on this server goes on, and Redis is retried", Endpoint);
        TimeSpan period = TimeToLive / 3;
        _heartbeat = _time.CreateTimer(_ => Queue(new Work(WorkKind.Heartbeat)), null, period, period);
        _worker = Task.Run(RunWorkAsync);
    }

    public void Publish(ChatBatch batch)
    {
        if (!IsConnected)
        {
            Drop(batch);
            return;
        }
        if (Interlocked.Increment(ref _queuedBatches) > MaxQueuedBatches)
        {
            Interlocked.Decrement(ref _queuedBatches);
            Drop(batch);
            return;
        }
        Queue(new Work(WorkKind.Publish, batch));
    }

    public void Watch(string room, bool watching) => Queue(new Work(watching ? WorkKind.Watch : WorkKind.Unwatch, Room: room));

    public void Enter(string nick, string room) => Queue(new Work(WorkKind.Enter, Nick: nick, Room: room));

    public void Move(string nick, string room) => Queue(new Work(WorkKind.Move, Nick: nick, Room: room));

    public void Leave(string nick) => Queue(new Work(WorkKind.Leave, Nick: nick));

    public void Rename(string from, string to, string room, Action<bool> answer) =>
        Queue(new Work(WorkKind.Rename, Nick: from, Room: room, To: to, Answer: answer));

    public void Who(string room, Action<IReadOnlyList<string>?> answer) => Queue(new Work(WorkKind.Who, Room: room, Answer: answer));

    private void Queue(Work work)
    {
        if (!_work.Writer.TryWrite(work))
            work.Batch?.Release();   // disposed
    }

    private void Drop(ChatBatch batch)
    {
        int lines = 0;
        for (int offset = 0; batch.TryRead(ref offset, out _, out _);)
            lines++;
        Interlocked.Add(ref _dropped, lines);
        batch.Release();
    }

    // The queued work, in order, until disposed.
    private async Task RunWorkAsync()
    {
        await foreach (Work work in _work.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await RunAsync(work).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // the worker outlives any one command: what failed is answered as failed, and logged
            catch (Exception e)
#pragma warning restore CA1031
            {
                Failed(work, e);
            }
        }
    }

    private Task RunAsync(Work work) => work.Kind switch
    {
        WorkKind.Publish => Task.FromResult(PublishNow(work.Batch!)),
        WorkKind.Watch => WatchAsync(work.Room!),
        WorkKind.Unwatch => UnwatchAsync(work.Room!),
        WorkKind.Enter => EnterAsync(work.Nick!, work.Room!),
        WorkKind.Move => MoveAsync(work.Nick!, work.Room!),
        WorkKind.Leave => LeaveAsync(work.Nick!),
        WorkKind.Rename => RenameAsync(work.Nick!, work.To!, work.Room!, (Action<bool>)work.Answer!),
        WorkKind.Who => StartWho(work.Room!, (Action<IReadOnlyList<string>?>)work.Answer!),
        WorkKind.Heartbeat => HeartbeatAsync(),
        WorkKind.Resubscribe => ResubscribeAsync(),
        WorkKind.Stop => StopAsync(),
        _ => Task.CompletedTask,
    };

    // A command that failed (Redis gone mid-way, or slow past its timeout): what was asked is answered as failed.
    private void Failed(Work work, Exception e)
    {
        if (e is RedisException or TimeoutException or ObjectDisposedException)
            _logger.LogDebug("backplane: {Kind} failed: {Error}", work.Kind, e.Message);
        else
            _logger.LogWarning(e, "backplane: {Kind} failed", work.Kind);
        switch (work.Answer)
        {
            case Action<bool> rename:
                rename(false);
                break;
            case Action<IReadOnlyList<string>?> who:
                who(null);
                break;
        }
    }

    public void Dispose()
    {
        _heartbeat?.Dispose();
        Queue(new Work(WorkKind.Stop));
        _work.Writer.TryComplete();
        if (!_worker.Wait(TimeSpan.FromSeconds(3)))
            _logger.LogWarning("backplane: Redis did not answer within 3 s while this server left it");
        _redis?.Dispose();
        _whoSlots.Dispose();
    }
}

// redis[s]://[[USER]:PASSWORD@]HOST[:PORT][/DB], checked up front so that a bad value is one clear line at start-up;
// rediss is TLS (the server's certificate checked against the system's roots, or against CaFile's alone). The
// password never appears in what this type prints, nor in an error about the URL.
public sealed record RedisEndpoint(string Host, int Port, int Database, string? Password, string? User = null, bool Tls = false,
    string? CaFile = null)
{
    public static RedisEndpoint Parse(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("redis" or "rediss") || string.IsNullOrEmpty(uri.Host))
            throw new FormatException($"'{Redacted(url)}' is not redis[s]://[USER:PASSWORD@]HOST[:PORT][/DB]");
        int database = 0;
        string path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0 && (!int.TryParse(path, System.Globalization.CultureInfo.InvariantCulture, out database) || database < 0))
            throw new FormatException($"'{Redacted(url)}': the database must be a number from 0 (redis://HOST:PORT/DB)");
        (string? user, string? password) = Credentials(uri.UserInfo);
        return new RedisEndpoint(uri.Host.Trim('[', ']'), uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port, database, password, user,
            uri.Scheme == "rediss");
    }

    // USER:PASSWORD, :PASSWORD (the default user) or PASSWORD alone (as redis-cli -u reads it).
    private static (string? User, string? Password) Credentials(string userInfo)
    {
        if (userInfo.Length == 0)
            return (null, null);
        int colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
            return (null, Uri.UnescapeDataString(userInfo));
        string user = Uri.UnescapeDataString(userInfo[..colon]);
        return (user.Length == 0 ? null : user, Uri.UnescapeDataString(userInfo[(colon + 1)..]));
    }

    // The URL with whatever stood before '@' replaced: what an error may quote.
    public static string Redacted(string url)
    {
        int scheme = url.IndexOf("://", StringComparison.Ordinal);
        int at = url.LastIndexOf('@');
        return scheme >= 0 && at > scheme ? url[..(scheme + 3)] + "***" + url[at..] : url;
    }

    // Fail fast rather than queue while Redis is away (FailFast backlog), retry with back-off, and notice a silent
    // Redis within seconds (keep-alive). TLS, the ACL user and the password through StackExchange.Redis's own options.
    internal ConfigurationOptions Options(string id)
    {
        var options = new ConfigurationOptions
        {
            AbortOnConnectFail = false,
            ConnectTimeout = 2000,
            SyncTimeout = 2000,
            AsyncTimeout = 2000,
            KeepAlive = 2,
            ConnectRetry = 1,
            ReconnectRetryPolicy = new ExponentialRetry(250, 5000),
            BacklogPolicy = BacklogPolicy.FailFast,
            DefaultDatabase = Database,
            User = User,
            Password = Password,
            Ssl = Tls,
            ClientName = "epollserver-chat-" + id,
        };
        if (Tls)
            options.SslHost = Host;
        if (Tls && CaFile is not null)
            options.TrustIssuer(CaFile);   // the chain must end at this CA; names are still checked
        options.EndPoints.Add(Host, Port);
        return options;
    }

    public override string ToString() =>
        $"{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port}/{Database}{(Tls ? " (TLS)" : "")}";
}
