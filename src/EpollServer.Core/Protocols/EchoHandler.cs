// echo: every byte back, in order, as fast as the peer reads it.
using EpollServer.Buffers;
using EpollServer.Net;

namespace EpollServer.Protocols;

public sealed class EchoHandler : IProtocolHandler
{
    private long _chunks;

    private static readonly EchoDatagramHandler DatagramEcho = new();

    public string Name => "echo";

    // UDP echo (--udp): the same protocol, a datagram at a time.
    public IDatagramHandler? Datagrams => DatagramEcho;

    // Echo has no framing: a message is what one read handed over (one request, when the peer waits for each answer).
    public long MessagesHandled => Volatile.Read(ref _chunks);

    // Takes only what the output can hold: the remainder waits in the input ring and the server pauses reading,
    // which is how a slow reader pushes back on a fast writer without either side growing a buffer.
    public int OnData(Connection connection, ReadableBytes data)
    {
        int count = Math.Min(data.Length, connection.OutputSpace);
        if (count == 0)
            return 0;   // the output is full: nothing echoed, nothing counted
        connection.Write(data.Slice(0, count));
        _chunks++;   // one writer, the loop thread
        return count;
    }
}
