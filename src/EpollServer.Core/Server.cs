// A TCP server: its listeners plus its reactors, one loop thread each (Options.Reactors; one per CPU by default), each
// owning the connections it was dealt and its own handler instance. Start() binds and starts the reactor threads;
// everything after that happens on them, and other threads talk to a reactor only through its waker's queue (Stop,
// GetFdReportAsync, handing over an accepted connection).
using System.Net;
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
    private readonly Func<IProtocolHandler> _handlerFactory;
    private readonly bool _oneHandlerInstance;
    private IProtocolHandler? _first;   // the factory's first handler: reactor 0's, and what Handler shows before Start
    private ReactorLoop[] _reactors = [];
    private DatagramSocket? _udp;
    private readonly SpareFd _spare = new();
    private readonly RuntimeFdReserve _reserve = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ServerMetrics? _metrics;
    private int _running;   // reactor threads still running
    private volatile ServerState _state = ServerState.Created;

    // One handler instance serves one reactor (its scratch buffers are that loop's): this form needs Reactors = 1.
    // clock: where the loops' timers and timeouts read the time; TimeProvider.System unless a test advances its own.
    public Server(ServerOptions options, IProtocolHandler handler, ILogger? logger = null, TimeProvider? clock = null)
        : this(options, () => handler, logger, clock) => _oneHandlerInstance = true;

    // handlerFactory: called once per reactor, on the starting thread.
    public Server(ServerOptions options, Func<IProtocolHandler> handlerFactory, ILogger? logger = null, TimeProvider? clock = null)
    {
        Options = options;
        Clock = clock ?? TimeProvider.System;
        _handlerFactory = handlerFactory;
        Logger = logger ?? NullLogger.Instance;
    }

    public ServerOptions Options { get; }

    public TimeProvider Clock { get; }

    // Reactor 0's handler: the protocol's name and shape (every reactor's is made by the same factory).
    public IProtocolHandler Handler => _first ??= _handlerFactory();

    public IReadOnlyList<IPEndPoint> LocalEndPoints { get; private set; } = [];

    // The port actually bound (the kernel's choice when Options.Port is 0).
    public int Port => LocalEndPoints.Count > 0 ? LocalEndPoints[0].Port : 0;

    // Where the protocol's datagram form is served (Options.Udp), on the TCP listener's address and port; null without it.
    public IPEndPoint? UdpEndPoint { get; private set; }

    public string PollerName { get; private set; } = "none";

    // Completes when every reactor thread has stopped and every fd is closed.
    public Task Completion => _completion.Task;

    public int ReactorCount => _reactors.Length;

    public int OpenConnections => _reactors.Sum(r => r.Context.Connections.Count);

    // Options.MaxConnections, lowered at start-up when the fd limit cannot hold that many (see CapByFdLimit), and at
    // EMFILE to what is open then.
    public int MaxConnections { get => Volatile.Read(ref _maxConnections); private set => Volatile.Write(ref _maxConnections, value); }

    private int _maxConnections = int.MaxValue;

    // Every reactor's counters, summed; the gauges from their owners.
    public ServerStats Stats => ServerStats.Sum(_reactors.Select(ReactorStats));

    // One reactor's counters (PerReactor: each, in order).
    internal ServerStats ReactorStats(ReactorLoop reactor) => reactor.Context.Counters.Snapshot(
        (Counter.ConnectionsOpen, reactor.Context.Connections.Count), (Counter.Messages, reactor.Handler.MessagesHandled),
        (Counter.LoopIterations, reactor.Context.Loop.Iterations), (Counter.DispatchFailures, reactor.Context.Loop.DispatchFailures));

    public IReadOnlyList<ServerStats> PerReactor => [.. _reactors.Select(ReactorStats)];

    // One counter now, from any thread, summed over the reactors.
    public long Read(Counter id) => _reactors.Sum(r => id switch
    {
        Counter.ConnectionsOpen => (long)r.Context.Connections.Count,
        Counter.Messages => r.Handler.MessagesHandled,
        Counter.LoopIterations => r.Context.Loop.Iterations,
        Counter.DispatchFailures => r.Context.Loop.DispatchFailures,
        _ => Volatile.Read(ref r.Context.Counters[id]),
    });

    public long LoopIterations => _reactors.Sum(r => r.Context.Loop.Iterations);

    // The protocol's own counters, summed by name over the reactors' handlers.
    public IReadOnlyList<KeyValuePair<string, long>> HandlerCounters =>
        [.. _reactors.SelectMany(r => r.Handler.Counters).GroupBy(c => c.Key).Select(g => new KeyValuePair<string, long>(g.Key, g.Sum(c => c.Value)))];

    internal ILogger Logger { get; }

    internal IReadOnlyList<ReactorLoop> Reactors => _reactors;

    // Reactor 0's loop and context (what a one-reactor server's tests look into).
    internal EventLoop Loop => _reactors[0].Context.Loop;

    internal LoopContext Context => _reactors[0].Context;

    // Binds and starts the reactor threads. Throws ServerStartException with the errno when a resource cannot be had.
    public void Start()
    {
        if (_state != ServerState.Created)
            throw new InvalidOperationException("a server starts once");
        IReadOnlyList<string> errors = Options.Validate();
        if (errors.Count > 0)
            throw new ArgumentException(string.Join("; ", errors), nameof(Options));
        int reactors = Options.ResolvedReactors;
        if (reactors > 1 && _oneHandlerInstance)
            throw new ArgumentException($"{reactors} reactors need a handler each: pass a factory (Func<IProtocolHandler>), or set Reactors to 1",
                nameof(Options));
        try
        {
            CreateReactors(reactors);
            CreateHeartbeats(reactors);
            OpenListeners();
            if (Handler.CheckListening(LocalEndPoints) is { } refused)
                throw new ServerStartException(refused);
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
        StartThreads();
    }

    private void CreateReactors(int count)
    {
        _reactors = new ReactorLoop[count];
        for (int i = 0; i < count; i++)
        {
            LoopContext context = LoopContext.Create(Options, Logger, Clock);
            var reactor = new ReactorLoop(i, context, i == 0 ? Handler : _handlerFactory(), AdoptOn);
            context.Releasing = connection => OnConnectionReleasing(reactor, connection);
            context.Closed = _ => FinishIfDrained(reactor);
            context.OutOfFds = GiveFdsToTheRuntime;
            _reactors[i] = reactor;
        }
        PollerName = _reactors[0].Context.Loop.PollerName;
    }

    private void StartThreads()
    {
        int[] cpus = Sys.GetCpuAffinity();
        _running = _reactors.Length;
        foreach (ReactorLoop reactor in _reactors)
        {
            int cpu = cpus.Length > 0 ? cpus[reactor.Index % cpus.Length] : -1;
            reactor.Thread = new Thread(() => RunReactor(reactor, cpu)) { Name = reactor.ThreadName, IsBackground = true };
            reactor.Thread.Start();
        }
    }

    // Fds kept free beyond the connections, as Redis keeps 32 (CONFIG_MIN_RESERVED_FDS): the runtime needs fds of
    // its own (a pipe for every thread it creates, files it opens lazily) and at EMFILE it aborts in ways no handler
    // can catch. A storm under a low fd limit followed by SIGTERM aborted the process before this cap existed.
    public const int ReservedFds = 32;

    // Connections beyond the fd limit could only be had by running the process out of fds; the limit refuses them
    // with a line instead. The fds already open (runtime, listeners, pollers, wakers, spare) are counted as they are,
    // and each connection is counted at what its handler says it costs (a proxy's client brings its upstream).
    private int CapByFdLimit(int wanted)
    {
        if (!OperatingSystem.IsLinux() || !Sys.GetFdLimit(out ulong soft, out _).Ok || soft >= int.MaxValue)
            return wanted;
        int inUse = ProcFd.Count(Environment.ProcessId);
        int perConnection = Math.Max(1, Handler.FdsPerConnection);
        int room = Math.Max(1, ((int)soft - inUse - ReservedFds) / perConnection);
        if (room >= wanted)
            return wanted;
        Logger.LogWarning("max connections lowered to {Room}: the fd limit is {Limit}, {InUse} fds are in use, {Reserved} are kept " +
            "for the runtime and each connection takes {PerConnection} (raise ulimit -n for more)", room, soft, inUse, ReservedFds, perConnection);
        return room;
    }

    // handoff: one listener, on reactor 0, which deals what it accepts. reuseport: one listener per reactor on the same
    // port (the first binds, and a port the kernel picked is the others' too).
    private void OpenListeners()
    {
        bool reusePort = Options.Accept == "reuseport";
        IPEndPoint endPoint = OpenListener(_reactors[0], reusePort, null);
        if (reusePort)
        {
            for (int i = 1; i < _reactors.Length; i++)
                OpenListener(_reactors[i], reusePort, new IPEndPoint(endPoint.Address, Port));
        }
        if (Options.Udp)
            OpenDatagrams(_reactors[0], new IPEndPoint(endPoint.Address, Port), dualStack: endPoint.Address.Equals(IPAddress.IPv6Any));
    }

    // Returns the address it bound (:: falls back to 0.0.0.0 where IPv6 is missing).
    private IPEndPoint OpenListener(ReactorLoop reactor, bool reusePort, IPEndPoint? at)
    {
        IPAddress address = at?.Address ?? IPAddress.Parse(Options.Address);
        bool anyV6 = address.Equals(IPAddress.IPv6Any);
        var endPoint = new IPEndPoint(address, at?.Port ?? Options.Port);
        SyscallResult opened = Listener.Open(endPoint, Options.Backlog, anyV6, OnListenerReadable, out Listener? listener, reusePort);
        if (!opened.Ok && anyV6 && opened.Error == Errno.EAFNOSUPPORT)
        {
            // A host (or container) without IPv6: "::" falls back to every IPv4 address, and says so.
            Logger.LogWarning("IPv6 is not available ({Error}); listening on IPv4 only", opened.Error);
            endPoint = new IPEndPoint(IPAddress.Any, endPoint.Port);
            opened = Listener.Open(endPoint, Options.Backlog, false, OnListenerReadable, out listener, reusePort);
        }
        if (!opened.Ok)
            throw new ServerStartException($"cannot listen on {endPoint}: {opened.Error}");
        listener!.Reactor = reactor;
        reactor.Listeners.Add(listener);
        SyscallResult registered = reactor.Context.Loop.Register(listener, listener.Fd, Interest.Read, out ulong token);
        listener.Token = token;
        if (!registered.Ok)
            throw new ServerStartException($"epoll_ctl(ADD) for the listener failed: {registered.Error}");
        if (LocalEndPoints.Count == 0)
            LocalEndPoints = [listener.LocalEndPoint];
        return endPoint;
    }

    // The TCP listener's port, also when the kernel picked it (port 0), so that `ping --udp` finds the same number.
    // One socket, on reactor 0: datagrams need no balancing to stay in order per peer, and a flood stays on one loop.
    private void OpenDatagrams(ReactorLoop reactor, IPEndPoint tcpEndPoint, bool dualStack)
    {
        IDatagramHandler datagrams = reactor.Handler.Datagrams
            ?? throw new ServerStartException($"the {reactor.Handler.Name} protocol has no datagram form: Udp serves only protocols that have one (echo)");
        SyscallResult opened = DatagramSocket.Open(tcpEndPoint, dualStack, Options.UdpBufferSize, datagrams, reactor.Context.Counters, out _udp);
        if (!opened.Ok)
            throw new ServerStartException($"cannot bind UDP on {tcpEndPoint}: {opened.Error}");
        SyscallResult registered = reactor.Context.Loop.Register(_udp!, _udp!.Fd, Interest.Read, out ulong token);
        _udp.Token = token;
        if (!registered.Ok)
            throw new ServerStartException($"epoll_ctl(ADD) for the UDP socket failed: {registered.Error}");
        UdpEndPoint = _udp.LocalEndPoint;
    }

    private void RunReactor(ReactorLoop reactor, int cpu)
    {
        // Thread.Name (epollserver-reactor-K) reaches the kernel as "epollserver-rea" for every reactor.
        Sys.SetKernelThreadName(reactor.KernelThreadName);
        if (Options.PinReactors && cpu >= 0)
            reactor.PinTo(cpu, Logger);
        try
        {
            reactor.Context.Loop.Run();
        }
        catch (Exception e)
        {
            Logger.LogCritical(e, "{Reactor}: the event loop failed", reactor);
        }
        finally
        {
            // Whatever ended the loop, no connection or listener outlives it, and every handler hears of its close.
            // The poller and the waker stay open until Dispose, so that a Stop or Post racing with the end never
            // writes to a closed fd number.
            reactor.Context.CloseAll(CloseReason.DrainDeadline);
            CloseListeners(reactor);
            reactor.CloseHandedOver();
            reactor.MarkStopped();
            if (Interlocked.Decrement(ref _running) == 0)
            {
                _spare.Dispose();
                _reserve.Dispose();
                _state = ServerState.Stopped;
                _completion.TrySetResult();
            }
        }
    }

    private void CloseListeners(ReactorLoop reactor)
    {
        foreach (Listener listener in reactor.Listeners)
            listener.Close(reactor.Context.Loop);
        if (reactor.Index == 0)
            _udp?.Close(reactor.Context.Loop);
    }

    private void ReleaseResources()
    {
        foreach (ReactorLoop reactor in _reactors)
        {
            CloseListeners(reactor);
            reactor.Dispose();
        }
        _reactors = [];
        _spare.Dispose();
        _reserve.Dispose();
    }

    public void Dispose()
    {
        if (_state != ServerState.Created)
        {
            Stop();
            if (!Completion.Wait(Options.ShutdownTimeout + Options.LingerTimeout + TimeSpan.FromSeconds(5)))
                return;   // a loop thread is stuck; leaking its fds beats freeing memory it still uses
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
