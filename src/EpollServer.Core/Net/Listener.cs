// A listening socket registered on the loop; its readiness means "connections are waiting to be accepted".
using System.Net;
using EpollServer.Reactor;
using EpollServer.Interop;

namespace EpollServer.Net;

internal sealed class Listener : BoundSocket
{
    private readonly Action<Listener> _onReadable;

    private Listener(int fd, IPEndPoint localEndPoint, Action<Listener> onReadable)
        : base(fd, localEndPoint) => _onReadable = onReadable;

    // The reactor whose loop this listener is registered on (and whose thread accepts from it).
    public ReactorLoop? Reactor { get; set; }

    public bool IsPaused { get; set; }

    public static SyscallResult Open(IPEndPoint endPoint, int backlog, bool dualStack, Action<Listener> onReadable, out Listener? listener,
        bool reusePort = false)
    {
        listener = null;
        SyscallResult bound = Bind(endPoint, Libc.SOCK_STREAM, dualStack, reuseAddress: true, out int fd, out IPEndPoint? local, reusePort);
        if (!bound.Ok)
            return bound;
        SyscallResult listening = Sys.Listen(fd, backlog);
        if (!listening.Ok)
        {
            Sys.Close(fd);
            return listening;
        }
        listener = new Listener(fd, local!, onReadable);
        return bound;
    }

    public override void OnPollEvent(PollEvents events) => _onReadable(this);

    public override string ToString() => $"listener {LocalEndPoint} fd {Fd}";
}
