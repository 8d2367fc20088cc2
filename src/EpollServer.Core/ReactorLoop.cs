// One reactor of a server: a thread (epollserver-reactor-K) running its own loop with its own context (poller, waker,
// pools, timers, deadline queues, counters) and its own handler instance. Reactors share nothing on the per-message
// path; the server is its listeners plus its reactors, and other threads (another reactor handing over a connection,
// Stop, the stats) talk to one only through its waker's queue.
using System.Collections.Concurrent;
using EpollServer.Interop;
using EpollServer.Net;
using EpollServer.Protocols;
using Microsoft.Extensions.Logging;

namespace EpollServer;

internal sealed class ReactorLoop : IDisposable
{
    private readonly ConcurrentQueue<(int Fd, PeerAddress Peer)> _handedOver = new();
    private readonly Action _adoptHandedOver;
    private readonly Action<ReactorLoop, int, PeerAddress> _adopt;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _load;   // accepted connections dealt to this reactor and not yet closed (any thread reads it)

    public ReactorLoop(int index, LoopContext context, IProtocolHandler handler, Action<ReactorLoop, int, PeerAddress> adopt)
    {
        Index = index;
        Context = context;
        Handler = handler;
        _adopt = adopt;
        _adoptHandedOver = AdoptHandedOver;
    }

    public int Index { get; }

    public LoopContext Context { get; }

    public IProtocolHandler Handler { get; }

    // This reactor's listeners: the only one in handoff mode (reactor 0), one each with SO_REUSEPORT.
    public List<Listener> Listeners { get; } = [];

    public Thread? Thread { get; set; }

    // What debuggers and dotnet-trace show.
    public string ThreadName => $"epollserver-reactor-{Index}";

    // What top -H, ps -L and /proc/PID/task/TID/comm show: the kernel keeps 15 bytes, which "reactor-1023" fits.
    public string KernelThreadName => $"reactor-{Index}";

    // The stop has reached this reactor: it ends its loop once its last connection has closed.
    public bool Draining { get; set; }

    public Reactor.LoopTimer? DrainDeadline { get; set; }

    // Completes when this reactor's loop has ended and everything it owned is closed.
    public Task Stopped => _stopped.Task;

    public void MarkStopped() => _stopped.TrySetResult();

    // The accepted connections this reactor holds or is about to: what handoff balances on.
    public int Load => Volatile.Read(ref _load);

    public void CountIn() => Interlocked.Increment(ref _load);

    public void CountOut() => Interlocked.Decrement(ref _load);

    // Any thread (the accepting reactor): the connection is adopted on this reactor's thread. Many handed over in one
    // wake-up are adopted in one pass, and the waker is written at most once per sleep (LoopWaker.Post).
    public void HandOver(int fd, PeerAddress peer)
    {
        _handedOver.Enqueue((fd, peer));
        Context.Loop.Post(_adoptHandedOver);
    }

    private void AdoptHandedOver()
    {
        while (_handedOver.TryDequeue(out (int Fd, PeerAddress Peer) next))
            _adopt(this, next.Fd, next.Peer);
    }

    // The loop has ended: connections handed over too late to be adopted are closed, not leaked.
    public void CloseHandedOver()
    {
        while (_handedOver.TryDequeue(out (int Fd, PeerAddress Peer) late))
            Sys.Close(late.Fd);
    }

    // Pins the calling thread (this reactor's) to one CPU; logged, not fatal, when the kernel refuses.
    public void PinTo(int cpu, ILogger logger)
    {
        SyscallResult pinned = Sys.SetCpuAffinity([cpu]);
        if (!pinned.Ok)
            logger.LogWarning("reactor {Index}: could not pin to CPU {Cpu}: {Error}", Index, cpu, pinned.Error);
    }

    public override string ToString() => $"reactor {Index}";

    public void Dispose() => Context.Dispose();
}
