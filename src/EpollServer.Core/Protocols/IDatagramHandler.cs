// A protocol's datagram form (--udp): each datagram handled on its own, with at most one datagram back to its sender.
// Only a protocol that has one (IProtocolHandler.Datagrams) can be served over UDP; the server refuses --udp for the
// others at start-up.
namespace EpollServer.Protocols;

public interface IDatagramHandler
{
    // Writes the answer to `datagram` into `reply` and returns its length, or -1 to send nothing. `reply` is as long
    // as the longest datagram served (--udp-buffer).
    int OnDatagram(ReadOnlySpan<byte> datagram, Span<byte> reply);
}

// UDP echo: each datagram goes back unchanged, an empty one included.
public sealed class EchoDatagramHandler : IDatagramHandler
{
    public int OnDatagram(ReadOnlySpan<byte> datagram, Span<byte> reply)
    {
        datagram.CopyTo(reply);
        return datagram.Length;
    }
}
