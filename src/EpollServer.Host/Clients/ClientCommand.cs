// `epollserver client HOST PORT`: the chat lesson's client. What is typed goes to the server and what the server
// sends is printed as it arrives, both at once (a thread per direction); EOF on stdin (Ctrl-D) half-closes, and the
// command ends when the server closes.
using System.CommandLine;
using EpollServer.Interop;
using EpollServer.Net;

namespace EpollServer.Host.Clients;

internal static class ClientCommand
{
    private static readonly Option<double> Wait = new("--wait") { Description = "seconds to wait for the server to close after stdin ends", DefaultValueFactory = _ => 5 };
    private static readonly Option<double> ConnectTimeout = new("--connect-timeout") { Description = "seconds to wait for the connection", DefaultValueFactory = _ => 5 };

    public static Command Create()
    {
        var command = new Command("client", "interactive TCP client: stdin to the server, the server to stdout, both at once")
        {
            RemoteHost.Host, RemoteHost.Port, Wait, ConnectTimeout,
        };
        command.SetAction(Run);
        return command;
    }

    private static int Run(ParseResult parsed)
    {
        using BlockingSocket? socket = RemoteHost.Connect("client", parsed.GetValue(RemoteHost.Host)!, parsed.GetValue(RemoteHost.Port),
            udp: false, TimeSpan.FromSeconds(parsed.GetValue(ConnectTimeout)));
        if (socket is null)
            return 1;
        TimeSpan wait = TimeSpan.FromSeconds(parsed.GetValue(Wait));
        using var serverClosed = new ManualResetEventSlim();
        new Thread(() => ForwardInput(socket, serverClosed, wait)) { IsBackground = true, Name = "stdin" }.Start();
        int exitCode = PrintOutput(socket);
        serverClosed.Set();
        return exitCode;
    }

    // The server's bytes, unchanged, as they arrive. 0 when the server closed cleanly, 1 on an error (a reset).
    private static int PrintOutput(BlockingSocket socket)
    {
        using Stream stdout = Console.OpenStandardOutput();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            SyscallResult received = socket.Receive(buffer);
            if (!received.Ok)
            {
                Console.Error.WriteLine($"epollserver client: connection lost: {received.Error}");
                return 1;
            }
            if (received.Value == 0)
                return 0;
            stdout.Write(buffer, 0, (int)received.Value);
            stdout.Flush();
        }
    }

    // Lines typed (or piped) go out as they are read. At EOF our side is shut down, which tells the server we are
    // done; a server that then does not close within --wait is left, and the command exits.
    private static void ForwardInput(BlockingSocket socket, ManualResetEventSlim serverClosed, TimeSpan wait)
    {
        using Stream stdin = Console.OpenStandardInput();
        var buffer = new byte[16 * 1024];
        int n;
        while ((n = stdin.Read(buffer, 0, buffer.Length)) > 0)
        {
            if (!socket.SendAll(buffer.AsSpan(0, n)).Ok)
                return;   // the reading side reports how the connection ended
        }
        socket.ShutdownWrite();
        if (!serverClosed.Wait(wait))
        {
            Console.Error.WriteLine($"epollserver client: the server did not close within {wait.TotalSeconds} s of the end of input; exiting");
            Environment.Exit(0);
        }
    }
}
