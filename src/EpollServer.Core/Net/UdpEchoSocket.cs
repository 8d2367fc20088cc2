// UDP echo (--udp): one non-blocking datagram socket on the same loop and port as the TCP listener. Each datagram
// goes back to its sender unchanged; one larger than the buffer cannot be echoed unchanged, so it is counted, not sent.
using System.Net;
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Reactor;

namespace EpollServer.Net;

internal sealed class UdpEchoSocket : IPollable
{
    // Datagrams served per readiness event, so that a flood on UDP cannot starve the TCP connections of the loop.
    private const int MaxDatagramsPerWake = 64;

    private readonly byte[] _datagram;
    private readonly ServerCounters _counters;

    private UdpEchoSocket(int fd, IPEndPoint localEndPoint, int bufferSize, ServerCounters counters)
    {
        Fd = fd;
        LocalEndPoint = localEndPoint;
        _datagram = new byte[bufferSize];
        _counters = counters;
    }

    public int Fd { get; private set; }

    public ulong Token { get; set; }

    public IPEndPoint LocalEndPoint { get; }

    public static SyscallResult Open(IPEndPoint endPoint, bool dualStack, int bufferSize, ServerCounters counters, out UdpEchoSocket? socket)
    {
        socket = null;
        uint length = SocketAddresses.Write(endPoint, out Libc.sockaddr_storage address, out int family);
        SyscallResult created = Sys.Socket(family, Libc.SOCK_DGRAM);
        if (!created.Ok)
            return created;
        int fd = created.Fd;
        SyscallResult step = family == Libc.AF_INET6
            ? Sys.SetSockOpt(fd, Libc.IPPROTO_IPV6, Libc.IPV6_V6ONLY, dualStack ? 0 : 1)
            : SyscallResult.Success(0);
        if (step.Ok)
            step = Sys.Bind(fd, address, length);
        if (step.Ok)
            step = Sys.GetSockName(fd, out address, out _);
        if (!step.Ok)
        {
            Sys.Close(fd);
            return step;
        }
        socket = new UdpEchoSocket(fd, SocketAddresses.Read(address), bufferSize, counters);
        return created;
    }

    // recvfrom with MSG_TRUNC reports a datagram's full length, which is how truncation is noticed. A failed sendto
    // (EAGAIN when the socket buffer is full, ENOBUFS) drops that one datagram: UDP promises no delivery, and
    // queueing replies would let a flood grow memory.
    public void OnPollEvent(PollEvents events)
    {
        for (int i = 0; i < MaxDatagramsPerWake; i++)
        {
            SyscallResult received = Sys.RecvFrom(Fd, _datagram, Libc.MSG_TRUNC, out Libc.sockaddr_storage peer, out uint peerLength);
            if (!received.Ok)
            {
                if (!received.Error.IsWouldBlock)
                    _counters.DatagramErrors++;
                return;
            }
            _counters.DatagramsReceived++;
            int length = (int)received.Value;
            if (length > _datagram.Length)
            {
                _counters.DatagramsTruncated++;
                continue;
            }
            SyscallResult sent = Sys.SendTo(Fd, _datagram.AsSpan(0, length), peer, peerLength);
            if (sent.Ok)
                _counters.DatagramsSent++;
            else
                _counters.DatagramsDropped++;
        }
    }

    public void Close(EventLoop loop)
    {
        if (Fd < 0)
            return;
        loop.Unregister(Token, Fd);
        Sys.Close(Fd);
        Fd = -1;
    }

    public override string ToString() => $"udp {LocalEndPoint} fd {Fd}";
}
