// Why this is not a Connection: the `client`, `ping` and `health` commands are tools run from a terminal, one
// conversation each and no loop, where a thread that waits in recv (with a timeout) is the simple and right thing. It
// is a blocking client socket on the same raw bindings.
using System.Net;
using EpollServer.Interop;

namespace EpollServer.Net;

internal sealed class BlockingSocket : IDisposable
{
    private int _fd;

    private BlockingSocket(int fd, IPEndPoint remote)
    {
        _fd = fd;
        RemoteEndPoint = remote;
    }

    public IPEndPoint RemoteEndPoint { get; }

    // TCP: a connect that gives up after `timeout` (Linux applies SO_SNDTIMEO to connect; it then fails with
    // EINPROGRESS). UDP: connect only fixes the peer, so send/recv need no address and an ICMP "port unreachable"
    // comes back as ECONNREFUSED on the next recv.
    public static SyscallResult Connect(IPEndPoint remote, bool udp, TimeSpan timeout, out BlockingSocket? socket)
    {
        socket = null;
        uint length = SocketAddresses.Write(remote, out Libc.sockaddr_storage address, out int family);
        SyscallResult created = Sys.Socket(family, udp ? Libc.SOCK_DGRAM : Libc.SOCK_STREAM, nonBlocking: false);
        if (!created.Ok)
            return created;
        int fd = created.Fd;
        SyscallResult step = Sys.SetTimeout(fd, Libc.SO_SNDTIMEO, timeout);
        if (step.Ok)
            step = Sys.Connect(fd, address, length);
        if (step.Ok && !udp)
            step = Sys.SetSockOpt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, 1);
        if (!step.Ok)
        {
            Sys.Close(fd);
            return step.Error == Errno.EINPROGRESS ? SyscallResult.Failure(Errno.ETIMEDOUT) : step;
        }
        socket = new BlockingSocket(fd, remote);
        return created;
    }

    // recv gives up with EAGAIN after this long; Zero waits for ever.
    public SyscallResult SetReceiveTimeout(TimeSpan timeout) => Sys.SetTimeout(_fd, Libc.SO_RCVTIMEO, timeout);

    // All of data (TCP may take it in pieces); a datagram is always sent whole.
    public SyscallResult SendAll(ReadOnlySpan<byte> data)
    {
        do
        {
            SyscallResult sent = Sys.Send(_fd, data);
            if (!sent.Ok)
                return sent;
            data = data[(int)sent.Value..];
        }
        while (!data.IsEmpty);
        return SyscallResult.Success(0);
    }

    public SyscallResult Receive(Span<byte> buffer) => Sys.Recv(_fd, buffer);

    // Exactly buffer.Length bytes, unless the peer closes first (the count so far) or an error or timeout comes.
    public SyscallResult ReceiveExactly(Span<byte> buffer)
    {
        int received = 0;
        while (received < buffer.Length)
        {
            SyscallResult n = Sys.Recv(_fd, buffer[received..]);
            if (!n.Ok || n.Value == 0)
                return n.Ok ? SyscallResult.Success(received) : n;
            received += (int)n.Value;
        }
        return SyscallResult.Success(received);
    }

    public SyscallResult ShutdownWrite() => Sys.Shutdown(_fd, Libc.SHUT_WR);

    public void Dispose()
    {
        if (_fd >= 0)
            Sys.Close(_fd);
        _fd = -1;
    }
}
