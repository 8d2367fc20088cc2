// HOST PORT as given on the command line: an address or a name, tried IPv4 first (servers bound to 0.0.0.0 are the
// common case, and "localhost" resolves to ::1 first on many systems).
using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using EpollServer.Interop;
using EpollServer.Net;

namespace EpollServer.Host.Clients;

internal static class RemoteHost
{
    public static readonly Argument<string> Host = new("HOST") { Description = "server address or name (127.0.0.1, ::1, localhost)" };
    public static readonly Argument<int> Port = new("PORT") { Description = "server port" };

    // Connects to the first address that accepts; the error line names the last failure.
    public static BlockingSocket? Connect(string command, string host, int port, bool udp, TimeSpan timeout)
    {
        if (port is < 1 or > 65535)
            return Fail(command, $"PORT {port} is outside 1..65535");
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(host, out IPAddress? literal) ? [literal] : Dns.GetHostAddresses(host);
        }
        catch (SocketException e)
        {
            return Fail(command, $"cannot resolve {host}: {e.Message}");
        }
        SyscallResult last = SyscallResult.Failure(Errno.ENOENT);
        foreach (IPAddress address in addresses.OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1))
        {
            last = BlockingSocket.Connect(new IPEndPoint(address, port), udp, timeout, out BlockingSocket? socket);
            if (last.Ok)
                return socket;
        }
        return Fail(command, $"cannot connect to {host} port {port}: {last.Error}");
    }

    private static BlockingSocket? Fail(string command, string message)
    {
        Console.Error.WriteLine($"epollserver {command}: {message}");
        return null;
    }
}
