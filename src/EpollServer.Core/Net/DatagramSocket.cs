// The datagram form of a protocol (--udp): one non-blocking UDP socket on the same loop and port as the TCP listener.
// Each datagram goes to the protocol's datagram handler, and its answer, if any, back to the sender. One larger than
// the buffer cannot be handled whole, so it is counted, not handled.
using System.Net;
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Protocols;
using EpollServer.Reactor;

namespace EpollServer.Net;

internal sealed class DatagramSocket : BoundSocket
{
    // Datagrams served per readiness event, so that a flood on UDP cannot starve the TCP connections of the loop.
    private const int MaxDatagramsPerWake = 64;

    private readonly byte[] _datagram;
    private readonly byte[] _reply;
    private readonly IDatagramHandler _handler;
    private readonly ServerCounters _counters;

    private DatagramSocket(int fd, IPEndPoint localEndPoint, int bufferSize, IDatagramHandler handler, ServerCounters counters)
        : base(fd, localEndPoint)
    {
        _datagram = new byte[bufferSize];
        _reply = new byte[bufferSize];
        _handler = handler;
        _counters = counters;
    }

    public static SyscallResult Open(IPEndPoint endPoint, bool dualStack, int bufferSize, IDatagramHandler handler, ServerCounters counters,
        out DatagramSocket? socket)
    {
        socket = null;
        SyscallResult bound = Bind(endPoint, Libc.SOCK_DGRAM, dualStack, reuseAddress: false, out int fd, out IPEndPoint? local);
        if (bound.Ok)
            socket = new DatagramSocket(fd, local!, bufferSize, handler, counters);
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
                    _counters[Counter.DatagramErrors]++;
                return;
            }
            _counters[Counter.DatagramsReceived]++;
            int length = (int)received.Value;
            if (length > _datagram.Length)
            {
                _counters[Counter.DatagramsTruncated]++;
                continue;
            }
            int reply = _handler.OnDatagram(_datagram.AsSpan(0, length), _reply);
            if (reply < 0)
                continue;
            SyscallResult sent = Sys.SendTo(Fd, _reply.AsSpan(0, reply), peer, peerLength);
            if (sent.Ok)
                _counters[Counter.DatagramsSent]++;
            else
                _counters[Counter.DatagramsDropped]++;
        }
    }

    public override string ToString() => $"udp {LocalEndPoint} fd {Fd}";
}
