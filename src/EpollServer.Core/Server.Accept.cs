// Accepting connections: a bounded batch per wake-up, the limits (counted across every reactor), handing each
// connection to the reactor that will own it, and running out of fds.
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Net;
using EpollServer.Reactor;
using Microsoft.Extensions.Logging;

namespace EpollServer;

public sealed partial class Server
{
    // Sent to a peer over --max-connections before it is closed (Redis answers "-ERR max number of clients reached").
    private static ReadOnlySpan<byte> RefusalLine => "ERR server is at its connection limit, try again later\n"u8;

    private static ReadOnlySpan<byte> PerAddressRefusalLine => "ERR too many connections from your address\n"u8;

    // Open connections per peer IP address, for --max-connections-per-address; an address leaves at zero. Shared by
    // the reactors, so locked: it is touched once per accept and once per close, never per message.
    private readonly Dictionary<(UInt128, bool), int> _perAddress = [];

    // Accepted connections still open, on every reactor: what --max-connections limits (a proxy's upstream
    // connections are not peers). Interlocked, for the same reason.
    private int _acceptedOpen;

    private int _nextReactor;   // handoff's tie-break, so that equal loads take turns

    // On the listener's reactor.
    private void OnListenerReadable(Listener listener)
    {
        for (int i = 0; i < Options.MaxAcceptsPerWake; i++)
        {
            SyscallResult accepted = Sys.Accept(listener.Fd, out Libc.sockaddr_storage peer, out _);
            if (accepted.Ok)
            {
                OnAccepted(listener.Reactor!, accepted.Fd, new PeerAddress(peer));
                continue;
            }
            if (accepted.Error.IsWouldBlock)
                return;
            if (accepted.Error.IsTransientAcceptError)
                continue;
            if (accepted.Error.IsFdExhaustion)
            {
                GiveFdsToTheRuntime(accepted.Error);
                RejectWithSpareFd(listener, accepted.Error);
            }
            else
                Logger.LogError("accept4 on {Listener} failed: {Error}", listener, accepted.Error);
            BackOff(listener);
            return;
        }
    }

    // The limits, then the reactor that will own it: this one with reuseport, the least loaded with handoff.
    private void OnAccepted(ReactorLoop accepting, int fd, PeerAddress address)
    {
        // Counted before the refusal is sent: whoever reads the line may read the counter next. (A stopping server
        // accepts until its listeners close, and drains what it accepted with the rest.)
        if (Interlocked.Increment(ref _acceptedOpen) > MaxConnections)
        {
            Interlocked.Decrement(ref _acceptedOpen);
            accepting.Context.Counters[Counter.ConnectionsRejectedLimit]++;
            Refuse(fd, RefusalLine);
            return;
        }
        if (!AdmitAddress(address.Host))
        {
            Interlocked.Decrement(ref _acceptedOpen);
            accepting.Context.Counters[Counter.ConnectionsRejectedPerAddress]++;
            Refuse(fd, PerAddressRefusalLine);
            return;
        }
        ReactorLoop owner = Options.Accept == "reuseport" ? accepting : LeastLoaded();
        owner.CountIn();
        if (owner == accepting)
            AdoptOn(owner, fd, address);
        else
            owner.HandOver(fd, address);
    }

    private ReactorLoop LeastLoaded()
    {
        ReactorLoop best = _reactors[_nextReactor];
        for (int i = 1; i < _reactors.Length; i++)
        {
            ReactorLoop candidate = _reactors[(_nextReactor + i) % _reactors.Length];
            if (candidate.Load < best.Load)
                best = candidate;
        }
        _nextReactor = (best.Index + 1) % _reactors.Length;
        return best;
    }

    // On the owning reactor's thread: the connection is registered there, and from now on only that thread touches it.
    private void AdoptOn(ReactorLoop reactor, int fd, PeerAddress address)
    {
        // Small replies must not wait for Nagle's 40 ms; the output ring already batches writes into one send.
        if (Options.NoDelay)
            Sys.SetSockOpt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, 1);
        var connection = new Connection(reactor.Context, fd, address, reactor.Handler, accepted: true);
        SyscallResult registered = connection.Register();
        if (!registered.Ok)
        {
            Logger.LogError("epoll_ctl(ADD) for a new connection failed: {Error}", registered.Error);
            Sys.Close(fd);
            Forget(reactor, address.Host);
            return;
        }
        reactor.Context.Connections.Add(connection);
        reactor.Context.Counters[Counter.ConnectionsAccepted]++;
        connection.StartTimeouts();
        try
        {
            reactor.Handler.OnOpen(connection);
        }
        catch (Exception e)
        {
            reactor.Context.LogHandlerError(connection, e);
            connection.CloseNow(CloseReason.HandlerError);
            return;
        }
        // Accepted just as this reactor's drain began: it drains like the others.
        if (reactor.Draining)
            connection.BeginDrain();
    }

    // The fd table is full although the start-up cap should have prevented it (the limit was lowered under the
    // running process, or something else took fds), met by accept or by a socket for a proxy's upstream (on any
    // reactor: LoopContext.OutOfFds). The runtime needs fds to create a thread (a pipe each) and aborts without
    // them, so the reserve is given back (once, whichever thread comes first) and the connection limit set to what
    // is open now: from here on new peers are accepted only to be refused with a line, and the freed fds stay free.
    private void GiveFdsToTheRuntime(Errno error)
    {
        if (!_reserve.Release())
            return;
        MaxConnections = Math.Max(1, Volatile.Read(ref _acceptedOpen));
        Logger.LogWarning("out of file descriptors ({Error}): gave back the {Count} fds reserved for the runtime; max connections " +
            "lowered to {Max}", error, RuntimeFdReserve.Size, MaxConnections);
    }

    // One line the peer can read (best effort: a non-blocking send into a fresh socket's empty buffer), then close.
    private static void Refuse(int fd, ReadOnlySpan<byte> line)
    {
        Sys.Send(fd, line);
        Sys.Close(fd);
    }

    private bool AdmitAddress((UInt128, bool) host)
    {
        if (Options.MaxConnectionsPerAddress == 0)
            return true;
        lock (_perAddress)
        {
            ref int open = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_perAddress, host, out _);
            if (open >= Options.MaxConnectionsPerAddress)
                return false;
            open++;
            return true;
        }
    }

    // An accepted connection is gone (or never made it): its place in every count is given back.
    private void Forget(ReactorLoop reactor, (UInt128, bool) host)
    {
        reactor.CountOut();
        Interlocked.Decrement(ref _acceptedOpen);
        if (Options.MaxConnectionsPerAddress == 0)
            return;
        lock (_perAddress)
        {
            ref int open = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_perAddress, host);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref open))
                return;
            if (--open == 0)
                _perAddress.Remove(host);
        }
    }

    // The table is full: free the spare, accept a pending connection onto it and close it at once (the peer sees
    // EOF rather than hanging in the backlog), take the spare back. Repeated for what the backlog holds. Locked: with
    // a listener per reactor, two reactors may meet EMFILE at once, and there is one spare.
    private void RejectWithSpareFd(Listener listener, Errno error)
    {
        int rejected = 0;
        lock (_spare)
        {
            while (_spare.IsHeld && rejected < Options.MaxAcceptsPerWake)
            {
                _spare.Release();
                SyscallResult accepted = Sys.Accept(listener.Fd, out _, out _);
                if (accepted.Ok)
                {
                    listener.Reactor!.Context.Counters[Counter.ConnectionsRejectedNoFds]++;
                    Sys.Close(accepted.Fd);
                    rejected++;
                }
                _spare.Acquire();
                if (!accepted.Ok)
                    break;
            }
        }
        Logger.LogWarning("out of file descriptors ({Error}): closed {Count} pending connections; accepting again in {Ms} ms",
            error, rejected, Options.AcceptBackoff.TotalMilliseconds);
    }

    // Stops accepting for a while (nginx's approach to EMFILE): the backlog holds new peers until fds free up.
    private void BackOff(Listener listener)
    {
        if (listener.IsPaused)
            return;
        listener.IsPaused = true;
        EventLoop loop = listener.Reactor!.Context.Loop;
        listener.Reactor.Context.Counters[Counter.AcceptBackoffs]++;
        loop.Modify(listener.Token, listener.Fd, Interest.None);
        loop.Schedule(Options.AcceptBackoff, () =>
        {
            listener.IsPaused = false;
            if (_state == ServerState.Running && listener.Fd >= 0)
                loop.Modify(listener.Token, listener.Fd, Interest.Read);
        });
    }
}
