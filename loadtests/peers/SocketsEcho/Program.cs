// sockets-echo: the idiomatic System.Net.Sockets echo server, a benchmark peer for EpollServer.
// Usage: sockets-echo PORT. Prints "listening on 127.0.0.1:PORT" once bound; SIGTERM or SIGINT exits 0.
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

if (args.Length != 1 || !int.TryParse(args[0], out int port) || port is < 0 or > IPEndPoint.MaxPort)
{
    Console.Error.WriteLine("usage: sockets-echo PORT");
    return 2;
}

// .NET 10 no longer turns SIGTERM into a clean exit by itself, so both stop signals cancel the accept loop,
// and Main returns 0; connections still open are closed by the process exit. They are registered before the
// socket is bound, so a client that can connect can also rely on a clean stop.
using var stopping = new CancellationTokenSource();
void Stop(PosixSignalContext context)
{
    context.Cancel = true; // we exit ourselves, with code 0, instead of the default signal death
    stopping.Cancel();
}
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
listener.Listen(511); // the backlog every peer uses (nginx's and Redis's value)

Console.WriteLine($"listening on 127.0.0.1:{((IPEndPoint)listener.LocalEndPoint!).Port}");
Console.Out.Flush();

try
{
    while (true)
    {
        Socket client = await listener.AcceptAsync(stopping.Token);
        client.NoDelay = true; // small echoes must not wait for Nagle
        _ = EchoAsync(client); // one task per connection; it owns the socket and observes its own errors
    }
}
catch (OperationCanceledException)
{
}
return 0;

// Echoes until the client closes (Receive returns 0) or the connection fails; either way, close quietly.
static async Task EchoAsync(Socket client)
{
    using (client)
    {
        Memory<byte> buffer = new byte[16 * 1024]; // 16 KiB: the per-connection buffer every peer uses
        try
        {
            while (true)
            {
                int received = await client.ReceiveAsync(buffer, SocketFlags.None);
                if (received == 0)
                {
                    return;
                }
                await SendAllAsync(client, buffer[..received]);
            }
        }
        catch (SocketException)
        {
            // ECONNRESET, EPIPE and the like: the client is gone, and there is no one to tell.
        }
    }
}

// A stream socket may accept only part of a send; keep going until all of it is written.
static async Task SendAllAsync(Socket client, ReadOnlyMemory<byte> data)
{
    while (!data.IsEmpty)
    {
        int sent = await client.SendAsync(data, SocketFlags.None);
        data = data[sent..];
    }
}
