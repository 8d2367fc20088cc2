// Accepting connections: a bounded batch per wake-up, the connection limit, and running out of fds.
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

    // Open connections per peer IP address, for --max-connections-per-address; an address leaves at zero.
    private readonly Dictionary<(UInt128, bool), int> _perAddress = [];

    // Accepted connections still open: what --max-connections limits (a proxy's upstream connections are not peers).
    private int _acceptedOpen;

    private void OnListenerReadable(Listener listener)
    {
        for (int i = 0; i < Options.MaxAcceptsPerWake; i++)
        {
            SyscallResult accepted = Sys.Accept(listener.Fd, out Libc.sockaddr_storage peer, out _);
            if (accepted.Ok)
            {
                OnAccepted(accepted.Fd, peer);
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

    private void OnAccepted(int fd, in Libc.sockaddr_storage peer)
    {
        // Counted before the refusal is sent: whoever reads the line may read the counter next.
        if (_state != ServerState.Running || _acceptedOpen >= MaxConnections)
        {
            Counters[Counter.ConnectionsRejectedLimit]++;
            Refuse(fd, RefusalLine);
            return;
        }
        var address = new PeerAddress(peer);
        if (!AdmitAddress(address.Host))
        {
            Counters[Counter.ConnectionsRejectedPerAddress]++;
            Refuse(fd, PerAddressRefusalLine);
            return;
        }
        // Small replies must not wait for Nagle's 40 ms; the output ring already batches writes into one send.
        if (Options.NoDelay)
            Sys.SetSockOpt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, 1);
        var connection = new Connection(Context, fd, address, Handler, accepted: true);
        SyscallResult registered = connection.Register();
        if (!registered.Ok)
        {
            Logger.LogError("epoll_ctl(ADD) for a new connection failed: {Error}", registered.Error);
            Sys.Close(fd);
            ForgetAddress(address.Host);
            return;
        }
        Context.Connections.Add(connection);
        _acceptedOpen++;
        Counters[Counter.ConnectionsAccepted]++;
        connection.StartTimeouts();
        try
        {
            Handler.OnOpen(connection);
        }
        catch (Exception e)
        {
            Context.LogHandlerError(connection, e);
            connection.CloseNow(CloseReason.HandlerError);
        }
    }

    // The fd table is full although the start-up cap should have prevented it (the limit was lowered under the
    // running process, or something else took fds). The runtime needs fds to create a thread (a pipe each) and
    // aborts without them, so the reserve is given back and the connection limit set to what is open now: from
    // here on new peers are accepted only to be refused with a line, and the freed fds stay free.
    private void GiveFdsToTheRuntime(Errno error)
    {
        if (_reserve.Fds.Count == 0)
            return;
        _reserve.Dispose();
        MaxConnections = Math.Max(1, _acceptedOpen);
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
        ref int open = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_perAddress, host, out _);
        if (open >= Options.MaxConnectionsPerAddress)
            return false;
        open++;
        return true;
    }

    private void ForgetAddress((UInt128, bool) host)
    {
        ref int open = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_perAddress, host);
        if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref open))
            return;
        if (--open == 0)
            _perAddress.Remove(host);
    }

    // The table is full: free the spare, accept a pending connection onto it and close it at once (the peer sees
    // EOF rather than hanging in the backlog), take the spare back. Repeated for what the backlog holds.
    private void RejectWithSpareFd(Listener listener, Errno error)
    {
        int rejected = 0;
        while (_spare.IsHeld && rejected < Options.MaxAcceptsPerWake)
        {
            _spare.Release();
            SyscallResult accepted = Sys.Accept(listener.Fd, out _, out _);
            if (accepted.Ok)
            {
                Counters[Counter.ConnectionsRejectedNoFds]++;
                Sys.Close(accepted.Fd);
                rejected++;
            }
            _spare.Acquire();
            if (!accepted.Ok)
                break;
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
        Counters[Counter.AcceptBackoffs]++;
        Loop.Modify(listener.Token, listener.Fd, Interest.None);
        Loop.Schedule(Options.AcceptBackoff, () =>
        {
            listener.IsPaused = false;
            if (_state == ServerState.Running && listener.Fd >= 0)
                Loop.Modify(listener.Token, listener.Fd, Interest.Read);
        });
    }
}
