// EchoHandler: writes every byte a connection receives back to it, through Kestrel's pipes.
using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace KestrelEcho;

// Public because the connection pipeline creates it through dependency injection.
public sealed class EchoHandler : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        PipeReader input = connection.Transport.Input;
        PipeWriter output = connection.Transport.Output;

        // Kestrel asks each connection to close when the host stops, and otherwise waits for it until the shutdown
        // timeout: a client that never stops sending would hold the exit back. Honour the request at once.
        CancellationToken closeRequested =
            connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        try
        {
            while (true)
            {
                ReadResult read = await input.ReadAsync(closeRequested);
                foreach (ReadOnlyMemory<byte> segment in read.Buffer)
                {
                    output.Write(segment.Span); // copies into the output pipe; one flush sends the lot
                }
                input.AdvanceTo(read.Buffer.End);

                // The flush waits while the client is not reading (the pipe's pause threshold): backpressure.
                FlushResult flush = await output.FlushAsync(closeRequested);
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
        catch (OperationCanceledException) when (closeRequested.IsCancellationRequested)
        {
            // The server is stopping; returning lets Kestrel close the socket.
        }
    }
}
