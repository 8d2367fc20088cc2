// A TCP server on one reactor thread: listeners, connections and a protocol handler on an epoll event loop.
// Start() binds and starts the loop thread; everything after that happens on the loop, and other threads talk to it
// only through Post (Stop, GetFdReportAsync).
using System.Net;
using EpollServer.Buffers;
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Net;
using EpollServer.Protocols;
using EpollServer.Reactor;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EpollServer;

public sealed partial class Server : IDisposable
{
    private readonly List<Listener> _listeners = [];
    private DatagramSocket? _udp;
    private readonly SpareFd _spare = new();
    private readonly RuntimeFdReserve _reserve = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private LoopContext? _context;
    private Thread? _thread;
    private ServerMetrics? _metrics;
    private volatile ServerState _state = ServerState.Created;

    // clock: where the loop's timers and timeouts read the time; TimeProvider.System unless a test advances its own.
    public Server(ServerOptions options, IProtocolHandler handler, ILogger? logger = null, TimeProvider? clock = null)
    {
        Options = options;
        Clock = clock ?? TimeProvider.System;
        Handler = handler;
        Logger = logger ?? NullLogger.Instance;
    }

    public ServerOptions Options { get; }

    public TimeProvider Clock { get; }

    public IProtocolHandler Handler { get; }

    // What the server's loop counts (its context's counter sink); all zeros before Start.
    public ServerCounters Counters => _context?.Counters ?? NotStarted;

    private static readonly ServerCounters NotStarted = new();

    public IReadOnlyList<IPEndPoint> LocalEndPoints { get; private set; } = [];

    // The port actually bound (the kernel's choice when Options.Port is 0).
    public int Port => LocalEndPoints.Count > 0 ? LocalEndPoints[0].Port : 0;

    // Where the protocol's datagram form is served (Options.Udp), on the TCP listener's address and port; null without it.
    public IPEndPoint? UdpEndPoint { get; private set; }

    public string PollerName { get; private set; } = "none";

    // Completes when the loop thread has stopped and every fd is closed.
    public Task Completion => _completion.Task;

    public int OpenConnections => _context?.Connections.Count ?? 0;

    // Options.MaxConnections, lowered at start-up when the fd limit cannot hold that many (see CapByFdLimit).
    public int MaxConnections { get; private set; } = int.MaxValue;

    public ServerStats Stats => Counters.Snapshot((Counter.ConnectionsOpen, OpenConnections), (Counter.Messages, Handler.MessagesHandled),
        (Counter.LoopIterations, LoopIterations), (Counter.DispatchFailures, _context?.Loop.DispatchFailures ?? 0));

    // One counter now, from any thread; the gauges from their owners.
    public long Read(Counter id) => id switch
    {
        Counter.ConnectionsOpen => OpenConnections,
        Counter.Messages => Handler.MessagesHandled,
        Counter.LoopIterations => LoopIterations,
        Counter.DispatchFailures => _context?.Loop.DispatchFailures ?? 0,
        _ => Volatile.Read(ref Counters[id]),
    };

    public long LoopIterations => _context?.Loop.Iterations ?? 0;

    // The fds the server holds, counted from any thread without asking the loop (GetFdReportAsync lists them
    // exactly): it may be a connection behind, which a gauge can afford.
    internal int OwnFdCount
    {
        get
        {
            int count = (_udp?.Fd >= 0 ? 1 : 0) + (_spare.IsHeld ? 1 : 0) + _reserve.Fds.Count + OpenConnections;
            if (_context?.Loop is { } loop)
                count += (loop.PollerFd >= 0 ? 1 : 0) + (loop.WakerFd >= 0 ? 1 : 0) + (loop.WakerWriteFd >= 0 ? 1 : 0);
            // By index, not foreach: the loop clears the list at stop, and an enumerator would throw at that moment.
            for (int i = 0; i < _listeners.Count; i++)
                count += _listeners.ElementAtOrDefault(i) is { Fd: >= 0 } ? 1 : 0;
            return count;
        }
    }

    internal ILogger Logger { get; }

    internal EventLoop Loop => _context!.Loop;

    // The loop's context: what its connections know of it.
    internal LoopContext Context => _context!;


    // Binds and starts the loop thread. Throws ServerStartException with the errno when a resource cannot be had.
    public void Start()
    {
        if (_state != ServerState.Created)
            throw new InvalidOperationException("a server starts once");
        IReadOnlyList<string> errors = Options.Validate();
        if (errors.Count > 0)
            throw new ArgumentException(string.Join("; ", errors), nameof(Options));
        try
        {
            CreateLoop();
            OpenListeners();
            _reserve.Acquire();
            SyscallResult spare = _spare.Acquire();
            if (!spare.Ok)
                Logger.LogWarning("no spare fd for EMFILE handling: {Error}", spare.Error);
            MaxConnections = CapByFdLimit(Options.MaxConnections == 0 ? int.MaxValue : Options.MaxConnections);
        }
        catch
        {
            ReleaseResources();
            throw;
        }
        _state = ServerState.Running;
        _metrics = new ServerMetrics(this);
        _thread = new Thread(RunLoop) { Name = "epollserver-loop", IsBackground = true };
        _thread.Start();
    }

    private void CreateLoop()
    {
        _context = LoopContext.Create(Options, Logger, Clock);
        _context.Closed = OnConnectionClosed;
        PollerName = _context.Loop.PollerName;
    }

    // Fds kept free beyond the connections, as Redis keeps 32 (CONFIG_MIN_RESERVED_FDS): the runtime needs fds of
    // its own (a pipe for every thread it creates, files it opens lazily) and at EMFILE it aborts in ways no handler
    // can catch. A storm under a low fd limit followed by SIGTERM aborted the process before this cap existed.
    public const int ReservedFds = 32;

    // Connections beyond the fd limit could only be had by running the process out of fds; the limit refuses them
    // with a line instead. The fds already open (runtime, listeners, epoll, eventfd, spare) are counted as they are.
    private int CapByFdLimit(int wanted)
    {
        if (!OperatingSystem.IsLinux() || !Sys.GetFdLimit(out ulong soft, out _).Ok || soft >= int.MaxValue)
            return wanted;
        int inUse = ProcFd.Count(Environment.ProcessId);
        int room = Math.Max(1, (int)soft - inUse - ReservedFds);
        if (room >= wanted)
            return wanted;
        Logger.LogWarning("max connections lowered to {Room}: the fd limit is {Limit}, {InUse} fds are in use and {Reserved} are kept " +
            "for the runtime (raise ulimit -n for more)", room, soft, inUse, ReservedFds);
        return room;
    }

    private void OpenListeners()
    {
        IPAddress address = IPAddress.Parse(Options.Address);
        bool anyV6 = address.Equals(IPAddress.IPv6Any);
        var endPoint = new IPEndPoint(address, Options.Port);
        SyscallResult opened = Listener.Open(endPoint, Options.Backlog, anyV6, OnListenerReadable, out Listener? listener);
        if (!opened.Ok && anyV6 && opened.Error == Errno.EAFNOSUPPORT)
        {
            // A host (or container) without IPv6: "::" falls back to every IPv4 address, and says so.
            Logger.LogWarning("IPv6 is not available ({Error}); listening on IPv4 only", opened.Error);
            endPoint = new IPEndPoint(IPAddress.Any, Options.Port);
            opened = Listener.Open(endPoint, Options.Backlog, false, OnListenerReadable, out listener);
        }
        if (!opened.Ok)
            throw new ServerStartException($"cannot listen on {endPoint}: {opened.Error}");
        SyscallResult registered = Loop.Register(listener!, listener!.Fd, Interest.Read, out ulong token);
        listener.Token = token;
        _listeners.Add(listener);
        if (!registered.Ok)
            throw new ServerStartException($"epoll_ctl(ADD) for the listener failed: {registered.Error}");
        LocalEndPoints = [listener.LocalEndPoint];
        if (Options.Udp)
            OpenDatagrams(listener.LocalEndPoint, dualStack: endPoint.Address.Equals(IPAddress.IPv6Any));
    }

    // The TCP listener's port, also when the kernel picked it (port 0), so that `ping --udp` finds the same number.
    private void OpenDatagrams(IPEndPoint tcpEndPoint, bool dualStack)
    {
        IDatagramHandler datagrams = Handler.Datagrams
            ?? throw new ServerStartException($"the {Handler.Name} protocol has no datagram form: Udp serves only protocols that have one (echo)");
        SyscallResult opened = DatagramSocket.Open(tcpEndPoint, dualStack, Options.UdpBufferSize, datagrams, Counters, out _udp);
        if (!opened.Ok)
            throw new ServerStartException($"cannot bind UDP on {tcpEndPoint}: {opened.Error}");
        SyscallResult registered = Loop.Register(_udp!, _udp!.Fd, Interest.Read, out ulong token);
        _udp.Token = token;
        if (!registered.Ok)
            throw new ServerStartException($"epoll_ctl(ADD) for the UDP socket failed: {registered.Error}");
        UdpEndPoint = _udp.LocalEndPoint;
    }

    private void RunLoop()
    {
        try
        {
            Loop.Run();
        }
        catch (Exception e)
        {
            Logger.LogCritical(e, "the event loop failed");
        }
        finally
        {
            // Whatever ended the loop, no connection or listener outlives it, and every handler hears of its close.
            // The poller and the eventfd stay open until Dispose, so that a Stop or Post racing with the end never
            // writes to a closed fd number.
            Context.CloseAll(CloseReason.DrainDeadline);
            CloseListenersAndSpare();
            _state = ServerState.Stopped;
            _completion.TrySetResult();
        }
    }

    private void CloseListenersAndSpare()
    {
        foreach (Listener listener in _listeners)
            listener.Close(Loop);
        _listeners.Clear();
        _udp?.Close(Loop);
        _spare.Dispose();
        _reserve.Dispose();
    }

    private void ReleaseResources()
    {
        if (_context is null)
            return;
        CloseListenersAndSpare();
        _context.Dispose();
        _context = null;
    }

    // The context's report of a close: the server's own bookkeeping only (the handler hears of it separately).
    private void OnConnectionClosed(Connection connection)
    {
        if (connection.IsAccepted)
        {
            _acceptedOpen--;
            ForgetAddress(connection.Host);
        }
        if (_state == ServerState.Draining && OpenConnections == 0)
            FinishShutdown();
    }

    public void Dispose()
    {
        if (_state != ServerState.Created)
        {
            Stop();
            if (!Completion.Wait(Options.ShutdownTimeout + Options.LingerTimeout + TimeSpan.FromSeconds(5)))
                return;   // the loop thread is stuck; leaking its two fds beats freeing memory it still uses
        }
        ReleaseResources();
        _metrics?.Dispose();
        _state = ServerState.Stopped;
    }

    private enum ServerState
    {
        Created,
        Running,
        Draining,
        Stopped,
    }
}

public sealed class ServerStartException(string message) : Exception(message);
