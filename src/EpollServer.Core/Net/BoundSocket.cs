// What the TCP listener and the UDP echo socket share: a socket bound to a local address and registered on the loop.
using System.Net;
using EpollServer.Interop;
using EpollServer.Reactor;

namespace EpollServer.Net;

internal abstract class BoundSocket : IPollable
{
    protected BoundSocket(int fd, IPEndPoint localEndPoint)
    {
        Fd = fd;
        LocalEndPoint = localEndPoint;
    }

    public int Fd { get; private set; }

    public ulong Token { get; set; }

    public IPEndPoint LocalEndPoint { get; }

    public abstract void OnPollEvent(PollEvents events);

    // The loop has already taken the fd off the poller.
    public void OnDispatchFailed(Exception error)
    {
        Sys.Close(Fd);
        Fd = -1;
    }

    public void Close(EventLoop loop)
    {
        if (Fd < 0)
            return;
        loop.Unregister(Token, Fd);
        Sys.Close(Fd);
        Fd = -1;
    }

    // socket, SO_REUSEADDR when asked (a restarted TCP server must not wait out TIME_WAIT), IPV6_V6ONLY off for
    // dual-stack, bind, then getsockname for the port the kernel chose when 0 was asked for. The fd is closed on
    // any failure.
    // reusePort: SO_REUSEPORT, so that several sockets (a listener per reactor) share one port and the kernel spreads
    // connections among them.
    protected static SyscallResult Bind(IPEndPoint endPoint, int type, bool dualStack, bool reuseAddress, out int fd, out IPEndPoint? local,
        bool reusePort = false)
    {
        local = null;
        uint length = SocketAddresses.Write(endPoint, out Libc.sockaddr_storage address, out int family);
        SyscallResult created = Sys.Socket(family, type);
        fd = created.Ok ? created.Fd : -1;
        if (!created.Ok)
            return created;
        SyscallResult step = reuseAddress ? Sys.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1) : created;
        if (step.Ok && reusePort)
            step = Sys.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_REUSEPORT, 1);
        if (step.Ok && family == Libc.AF_INET6)
            step = Sys.SetSockOpt(fd, Libc.IPPROTO_IPV6, Libc.IPV6_V6ONLY, dualStack ? 0 : 1);
        if (step.Ok)
            step = Sys.Bind(fd, address, length);
        if (step.Ok)
            step = Sys.GetSockName(fd, out address, out _);
        if (!step.Ok)
        {
            Sys.Close(fd);
            fd = -1;
            return step;
        }
        local = SocketAddresses.Read(address);
        return created;
    }
}
