// A listening socket registered on the loop; its readiness means "connections are waiting to be accepted".
using System.Net;
using EpollServer.Reactor;
using EpollServer.Interop;

namespace EpollServer.Net;

internal sealed class Listener : IPollable
{
    private readonly Action<Listener> _onReadable;

    private Listener(int fd, IPEndPoint localEndPoint, Action<Listener> onReadable)
    {
        Fd = fd;
        LocalEndPoint = localEndPoint;
        _onReadable = onReadable;
    }

    public int Fd { get; private set; }

    public ulong Token { get; set; }

    public IPEndPoint LocalEndPoint { get; }

    public bool IsPaused { get; set; }

    // socket, SO_REUSEADDR (a restart must not wait out TIME_WAIT), IPV6_V6ONLY off for dual-stack, bind, listen.
    public static SyscallResult Open(IPEndPoint endPoint, int backlog, bool dualStack, Action<Listener> onReadable, out Listener? listener)
    {
        listener = null;
        uint length = SocketAddresses.Write(endPoint, out Libc.sockaddr_storage address, out int family);
        SyscallResult created = Sys.Socket(family, Libc.SOCK_STREAM);
        if (!created.Ok)
            return created;
        int fd = created.Fd;
        SyscallResult step = Sys.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1);
        if (step.Ok && family == Libc.AF_INET6)
            step = Sys.SetSockOpt(fd, Libc.IPPROTO_IPV6, Libc.IPV6_V6ONLY, dualStack ? 0 : 1);
        if (step.Ok)
            step = Sys.Bind(fd, address, length);
        if (step.Ok)
            step = Sys.Listen(fd, backlog);
        if (step.Ok)
            step = Sys.GetSockName(fd, out address, out _);
        if (!step.Ok)
        {
            Sys.Close(fd);
            return step;
        }
        listener = new Listener(fd, SocketAddresses.Read(address), onReadable);
        return created;
    }

    public void OnPollEvent(PollEvents events) => _onReadable(this);

    public void Close(EventLoop loop)
    {
        if (Fd < 0)
            return;
        loop.Unregister(Token, Fd);
        Sys.Close(Fd);
        Fd = -1;
    }

    public override string ToString() => $"listener {LocalEndPoint} fd {Fd}";
}
