// Chat across servers through Redis (native-notes/backplane.md says why StackExchange.Redis and how it measured):
//   rooms       one channel per room (epollserver:chat:room:NAME), subscribed while this server has a member there;
//               each payload is this server's 16-character id and the line, so a server skips its own lines;
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
    private readonly Dictionary<string, ChannelMessageQueue?> _watched = new(StringComparer.OrdinalIgnoreCase);   // worker only
    private readonly Dictionary<string, (string Nick, string Room)> _members = new(StringComparer.OrdinalIgnoreCase);   // worker only
    private readonly Dictionary<string, RedisChannel> _channels = new(StringComparer.OrdinalIgnoreCase);   // worker only
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

    public RedisChatBackplane(RedisEndpoint endpoint, ILogger logger, TimeSpan? timeToLive = null, TimeProvider? time = null)
    {
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
        WorkKind.Who => WhoAsync(work.Room!, (Action<IReadOnlyList<string>?>)work.Answer!),
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
    }
}

// redis://[:PASSWORD@]HOST[:PORT][/DB], checked up front so that a bad value is one clear line at start-up.
public sealed record RedisEndpoint(string Host, int Port, int Database, string? Password)
{
    public static RedisEndpoint Parse(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || uri.Scheme != "redis" || string.IsNullOrEmpty(uri.Host))
            throw new FormatException($"'{url}' is not redis://HOST[:PORT][/DB]");
        int database = 0;
        string path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0 && (!int.TryParse(path, System.Globalization.CultureInfo.InvariantCulture, out database) || database < 0))
            throw new FormatException($"'{url}': the database must be a number from 0 (redis://HOST:PORT/DB)");
        string? password = uri.UserInfo.Length > 0 ? Uri.UnescapeDataString(uri.UserInfo[(uri.UserInfo.IndexOf(':', StringComparison.Ordinal) + 1)..]) : null;
        return new RedisEndpoint(uri.Host.Trim('[', ']'), uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port, database, password);
    }

    // Fail fast rather than queue while Redis is away (FailFast backlog), retry with back-off, and notice a silent
    // Redis within seconds (keep-alive).
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
            Password = Password,
            ClientName = "epollserver-chat-" + id,
        };
        options.EndPoints.Add(Host, Port);
        return options;
    }

    public override string ToString() => $"{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port}/{Database}";
}
