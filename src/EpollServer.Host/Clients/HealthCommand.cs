// `epollserver health`: connects to the server, asks it one question in its own protocol and checks the answer;
// exit 0 healthy, 1 not. The container's HEALTHCHECK runs it (the runtime image has no curl, and dash has no
// /dev/tcp), so by default it reads the port, protocol and address from the same EPOLLSERVER_* variables the
// server was configured with. A server that accepts but does not answer is unhealthy: the point is the loop.
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using EpollServer.Net;

namespace EpollServer.Host.Clients;

internal static class HealthCommand
{
    // The server's own variables, named as the server derives them from its settings.
    private static readonly string AddressVariable = EnvironmentOptions.VariableFor("address");
    private static readonly string PortVariable = EnvironmentOptions.VariableFor("port");
    private static readonly string ProtocolVariable = EnvironmentOptions.VariableFor("protocol");

    private static readonly Option<string> Host = new("--host")
    {
        Description = $"server address or name (default: {AddressVariable} when it names one address, else 127.0.0.1)",
        DefaultValueFactory = _ => DefaultHost(Environment.GetEnvironmentVariable(AddressVariable)),
    };
    private static readonly Option<int> Port = new("--port", "-p")
    {
        Description = $"server port (default: {PortVariable}, else {ServerOptions.DefaultPort})",
        DefaultValueFactory = _ => int.TryParse(Environment.GetEnvironmentVariable(PortVariable), CultureInfo.InvariantCulture, out int port)
            ? port : ServerOptions.DefaultPort,
    };
    private static readonly Option<string> Protocol = new("--protocol")
    {
        Description = $"the protocol to speak: {string.Join(", ", ProtocolCatalog.All.Where(p => p.Probe is not null).Select(p => p.Name))} " +
            $"(default: {ProtocolVariable}, else echo); a proxy is checked by the protocol of its upstream",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(ProtocolVariable) is { Length: > 0 } name ? name : "echo",
    };
    private static readonly Option<double> Timeout = new("--timeout", "-W") { Description = "seconds to wait for the connection and the answer", DefaultValueFactory = _ => 2 };

    public static Command Create()
    {
        var command = new Command("health", "check that a server answers: exit 0 healthy, 1 not (the container's HEALTHCHECK)")
        {
            Host, Port, Protocol, Timeout,
        };
        command.SetAction(Run);
        return command;
    }

    // A server bound to every address is reached on loopback; one bound to a single address only there.
    public static string DefaultHost(string? address) =>
        string.IsNullOrWhiteSpace(address) || address is "::" or "0.0.0.0" ? "127.0.0.1" : address;

    private static int Run(ParseResult parsed)
    {
        string protocol = parsed.GetValue(Protocol)!;
        double seconds = parsed.GetValue(Timeout);
        if (ProtocolCatalog.Find(protocol)?.Probe?.Invoke() is not { } probe || !double.IsFinite(seconds) || seconds is <= 0 or > 3600)
        {
            Console.Error.WriteLine($"epollserver health: --protocol must be one of " +
                $"{string.Join(", ", ProtocolCatalog.All.Where(p => p.Probe is not null).Select(p => p.Name))} (a proxy: the protocol of its upstream) " +
                "and --timeout within 0..3600 s");
            return 2;
        }
        string host = parsed.GetValue(Host)!;
        int port = parsed.GetValue(Port);
        TimeSpan timeout = TimeSpan.FromSeconds(seconds);
        long started = Stopwatch.GetTimestamp();
        using BlockingSocket? socket = RemoteHost.Connect("health", host, port, udp: false, timeout);
        if (socket is null)
            return 1;   // RemoteHost said why
        socket.SetReceiveTimeout(timeout);
        string? problem = probe.Check(socket, timeout);
        double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (problem is not null)
        {
            Console.Error.WriteLine($"epollserver health: unhealthy: {protocol} on {socket.RemoteEndPoint}: {problem}");
            return 1;
        }
        Console.WriteLine($"healthy: {protocol} on {socket.RemoteEndPoint} answered in {ms.ToString("0.0", CultureInfo.InvariantCulture)} ms");
        return 0;
    }
}

// One question and the answer it must get (the protocol catalogue says which, per protocol). The answer is searched
// for in what arrives, so a greeting (--greeting, chat's welcome) in front of it does no harm.
internal sealed class HealthProbe(byte[] question, byte[] expected)
{
    private const int MaxAnswerBytes = 64 * 1024;

    // Null when the expected answer arrived in time; else what went wrong.
    public string? Check(BlockingSocket socket, TimeSpan timeout)
    {
        if (question.Length > 0 && socket.SendAll(question) is { Ok: false } sent)
            return $"send failed: {sent.Error}";
        var received = new List<byte>();
        var buffer = new byte[4096];
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (received.Count < MaxAnswerBytes)
        {
            if (Stopwatch.GetTimestamp() > deadline)
                return $"no answer within {timeout.TotalSeconds} s";
            var result = socket.Receive(buffer);
            if (!result.Ok)
                return result.Error.IsWouldBlock ? $"no answer within {timeout.TotalSeconds} s" : $"recv failed: {result.Error}";
            if (result.Value == 0)
                return $"the server closed the connection after {received.Count} bytes";
            received.AddRange(buffer.AsSpan(0, (int)result.Value));
            if (System.Runtime.InteropServices.CollectionsMarshal.AsSpan(received).IndexOf(expected) >= 0)
                return null;
        }
        return $"{MaxAnswerBytes} bytes arrived without the expected answer";
    }
}
