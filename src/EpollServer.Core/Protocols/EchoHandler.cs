// echo: every byte back, in order, as fast as the peer reads it.
using EpollServer.Buffers;
using EpollServer.Net;

namespace EpollServer.Protocols;

public sealed class EchoHandler : IProtocolHandler
{
    public string Name => "echo";

    // Takes only what the output can hold: the remainder waits in the input ring and the server pauses reading,
    // which is how a slow reader pushes back on a fast writer without either side growing a buffer.
    public int OnData(Connection connection, ReadableBytes data)
    {
        int count = Math.Min(data.Length, connection.OutputSpace);
        connection.Write(data.Slice(0, count));
        return count;
    }
}
