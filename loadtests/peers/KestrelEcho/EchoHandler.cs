// EchoHandler: writes every byte a connection receives back to it, through Kestrel's pipes.
using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace KestrelEcho;

// Public because the connection pipeline creates it through dependency injection.
public sealed class EchoHandler : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        PipeReader input = connection.Transport.Input;
        PipeWriter output = connection.Transport.Output;
        try
        {
            while (true)
            {
                ReadResult read = await input.ReadAsync();
                foreach (ReadOnlyMemory<byte> segment in read.Buffer)
                {
                    output.Write(segment.Span); // copies into the output pipe; one flush sends the lot
                }
                input.AdvanceTo(read.Buffer.End);

                // The flush waits while the client is not reading (the pipe's pause threshold): backpressure.
                FlushResult flush = await output.FlushAsync();
                if (read.IsCompleted || flush.IsCompleted)
                {
                    return; // the client closed; Kestrel closes the socket once the handler returns
                }
            }
        }
        catch (ConnectionResetException)
        {
            // The client reset the connection: nothing is owed to anyone, so close quietly.
        }
    }
}
