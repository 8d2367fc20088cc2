// UDP echo (--udp): one non-blocking datagram socket on the same loop and port as the TCP listener. Each datagram
// goes back to its sender unchanged; one larger than the buffer cannot be echoed unchanged, so it is counted, not sent.
using System.Net;
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Reactor;

namespace EpollServer.Net;

internal sealed class UdpEchoSocket : BoundSocket
{
    // Datagrams served per readiness event, so that a flood on UDP cannot starve the TCP connections of the loop.
    private const int MaxDatagramsPerWake = 64;

    private readonly byte[] _datagram;
    private readonly ServerCounters _counters;

    private UdpEchoSocket(int fd, IPEndPoint localEndPoint, int bufferSize, ServerCounters counters)
        : base(fd, localEndPoint)
    {
        _datagram = new byte[bufferSize];
        _counters = counters;
    }

    public static SyscallResult Open(IPEndPoint endPoint, bool dualStack, int bufferSize, ServerCounters counters, out UdpEchoSocket? socket)
    {
        socket = null;
        SyscallResult bound = Bind(endPoint, Libc.SOCK_DGRAM, dualStack, reuseAddress: false, out int fd, out IPEndPoint? local);
        if (bound.Ok)
            socket = new UdpEchoSocket(fd, local!, bufferSize, counters);
        return bound;
    }

    // recvfrom with MSG_TRUNC reports a datagram's full length, which is how truncation is noticed. A failed sendto
    // (EAGAIN when the socket buffer is full, ENOBUFS) drops that one datagram: UDP promises no delivery, and
    // queueing replies would let a flood grow memory.
    public override void OnPollEvent(PollEvents events)
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

    public override string ToString() => $"udp {LocalEndPoint} fd {Fd}";
}
