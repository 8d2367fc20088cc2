// `epollserver ping HOST PORT`: round-trip times against an echo server, one line per probe and a summary, like
// ping(8). TCP probes run over one connection; UDP probes carry a sequence number so late answers are told apart.
using System.Buffers.Binary;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using EpollServer.Interop;
using EpollServer.Net;

namespace EpollServer.Host.Clients;

internal static class PingCommand
{
    private const int SequenceBytes = 8;   // UDP probes start with their sequence number

    private static readonly Option<int> Count = new("--count", "-c") { Description = "probes to send", DefaultValueFactory = _ => 10 };
    private static readonly Option<int> Size = new("--size", "-s") { Description = "bytes per probe", DefaultValueFactory = _ => 64 };
    private static readonly Option<bool> Udp = new("--udp") { Description = "probe the UDP echo (--udp on the server) instead of TCP" };
    private static readonly Option<double> Interval = new("--interval", "-i") { Description = "seconds between probes", DefaultValueFactory = _ => 0.2 };
    private static readonly Option<double> Timeout = new("--timeout", "-W") { Description = "seconds to wait for each answer", DefaultValueFactory = _ => 1 };

    public static Command Create()
    {
        var command = new Command("ping", "round-trip times against an echo server (TCP, or UDP with --udp)")
        {
            RemoteHost.Host, RemoteHost.Port, Count, Size, Udp, Interval, Timeout,
        };
        command.SetAction(Run);
        return command;
    }

    private static int Run(ParseResult parsed)
    {
        var probe = new ProbeSettings(parsed.GetValue(Count), parsed.GetValue(Size), parsed.GetValue(Udp),
            TimeSpan.FromSeconds(parsed.GetValue(Interval)), TimeSpan.FromSeconds(parsed.GetValue(Timeout)));
        if (probe.Validate() is { } error)
        {
            Console.Error.WriteLine($"epollserver ping: {error}");
            return 2;
        }
        using BlockingSocket? socket = RemoteHost.Connect("ping", parsed.GetValue(RemoteHost.Host)!, parsed.GetValue(RemoteHost.Port), probe.Udp, probe.Timeout);
        if (socket is null)
            return 1;
        socket.SetReceiveTimeout(probe.Timeout);
        string protocol = probe.Udp ? "udp" : "tcp";
        Console.WriteLine($"PING {socket.RemoteEndPoint} ({protocol}): {probe.Size} bytes per probe");
        var rtts = new List<double>();
        var started = Stopwatch.StartNew();
        for (int seq = 1; seq <= probe.Count; seq++)
        {
            double? rtt = probe.Udp ? ProbeUdp(socket, probe, seq) : ProbeTcp(socket, probe, seq, greetingPossible: seq == 1);
            if (rtt is double ms)
                rtts.Add(ms);
            else if (!probe.Udp)
                break;   // a TCP stream that lost a probe cannot be trusted for the next one
            if (seq < probe.Count)
                Thread.Sleep(probe.Interval);
        }
        PrintSummary(socket, protocol, probe.Count, rtts, started.Elapsed);
        return rtts.Count == probe.Count ? 0 : 1;
    }

    // One probe over the connection: the bytes sent must come back exactly. Before the first answer the server may
    // have sent a greeting (--greeting): lines ending in LF followed by the probe's echo; they are skipped and shown.
    private static double? ProbeTcp(BlockingSocket socket, ProbeSettings probe, int seq, bool greetingPossible)
    {
        byte[] payload = Payload(probe.Size, seq);
        var answer = new byte[probe.Size];
        long start = Stopwatch.GetTimestamp();
        SyscallResult result = socket.SendAll(payload);
        if (result.Ok)
            result = socket.ReceiveExactly(answer);
        if (greetingPossible && result.Ok && result.Value == probe.Size && !answer.AsSpan().SequenceEqual(payload))
            result = SkipGreeting(socket, payload, ref answer);
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        if (!result.Ok || result.Value < probe.Size)
        {
            string why = !result.Ok ? (result.Error.IsWouldBlock ? "timeout" : result.Error.ToString()) : "the server closed the connection";
            Console.WriteLine($"seq={seq} {why}");
            return null;
        }
        if (!answer.AsSpan().SequenceEqual(payload))
        {
            Console.WriteLine($"seq={seq} wrong answer: the bytes differ from the probe");
            return null;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{probe.Size} bytes from {socket.RemoteEndPoint}: seq={seq} time={ms:F3} ms"));
        return ms;
    }

    // The answer did not start with the probe: find a greeting in front of it. The received bytes must be whole lines
    // followed by the start of the probe; read on (at most a greeting's worth, within the receive timeout) until they
    // are, then take the rest of the echo. `answer` becomes what followed the greeting.
    private static SyscallResult SkipGreeting(BlockingSocket socket, byte[] payload, ref byte[] answer)
    {
        const int MaxGreeting = 64 * 1024;
        var received = new List<byte>(answer);
        var chunk = new byte[4096];
        int searchFrom = 0;
        while (received.Count < MaxGreeting + payload.Length)
        {
            int greeting = GreetingLength(received, payload, ref searchFrom);
            if (greeting > 0)
            {
                Console.WriteLine($"the server sent a greeting before the first answer ({greeting} bytes, skipped): " +
                    System.Text.Encoding.UTF8.GetString([.. received.Take(Math.Min(greeting, 200))]).TrimEnd('\n').ReplaceLineEndings(" | "));
                byte[] rest = new byte[payload.Length - (received.Count - greeting)];
                SyscallResult more = rest.Length > 0 ? socket.ReceiveExactly(rest) : SyscallResult.Success(0);
                if (!more.Ok || more.Value < rest.Length)
                    return more.Ok ? SyscallResult.Success(received.Count - greeting + more.Value) : more;
                answer = [.. received.Skip(greeting), .. rest];
                return SyscallResult.Success(payload.Length);
            }
            SyscallResult read = socket.Receive(chunk);
            if (!read.Ok || read.Value == 0)
                return SyscallResult.Success(payload.Length);   // nothing more: the answer stands, and differs
            received.AddRange(chunk.AsSpan(0, (int)read.Value));
        }
        return SyscallResult.Success(payload.Length);
    }

    // The length of the leading lines when what follows them is a prefix of the probe no longer than it; 0 when no LF
    // seen so far qualifies. searchFrom: where the next LF is looked for.
    private static int GreetingLength(List<byte> received, byte[] payload, ref int searchFrom)
    {
        for (int i = searchFrom; i < received.Count; i++)
        {
            if (received[i] != (byte)'\n')
                continue;
            int tail = received.Count - (i + 1);
            if (tail <= payload.Length && received.Skip(i + 1).SequenceEqual(payload.Take(tail)))
                return i + 1;
        }
        searchFrom = received.Count;
        return 0;
    }

    // One datagram; answers to earlier probes that arrive late are skipped, not mistaken for this one.
    private static double? ProbeUdp(BlockingSocket socket, ProbeSettings probe, int seq)
    {
        byte[] payload = Payload(probe.Size, seq);
        var answer = new byte[probe.Size + 1];   // one byte more, so that a longer answer shows
        long start = Stopwatch.GetTimestamp();
        SyscallResult result = socket.SendAll(payload);
        while (result.Ok)
        {
            result = socket.Receive(answer);
            if (!result.Ok)
                break;
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            int length = (int)result.Value;
            long answered = length >= SequenceBytes ? BinaryPrimitives.ReadInt64BigEndian(answer) : -1;
            if (answered != seq)
            {
                Console.WriteLine($"seq={seq} skipped a late or foreign answer ({length} bytes, seq={answered})");
                continue;
            }
            if (!answer.AsSpan(0, length).SequenceEqual(payload))
            {
                Console.WriteLine($"seq={seq} wrong answer: the bytes differ from the probe");
                return null;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{length} bytes from {socket.RemoteEndPoint}: seq={seq} time={ms:F3} ms"));
            return ms;
        }
        Console.WriteLine($"seq={seq} {(result.Error.IsWouldBlock ? "timeout" : result.Error.ToString())}");
        return null;
    }

    // The sequence number first (big-endian), then bytes that differ per probe and per position.
    private static byte[] Payload(int size, int seq)
    {
        var payload = new byte[size];
        for (int i = 0; i < size; i++)
            payload[i] = (byte)('a' + (i + seq) % 26);
        if (size >= SequenceBytes)
            BinaryPrimitives.WriteInt64BigEndian(payload, seq);
        return payload;
    }

    private static void PrintSummary(BlockingSocket socket, string protocol, int sent, List<double> rtts, TimeSpan elapsed)
    {
        double loss = 100.0 * (sent - rtts.Count) / sent;
        Console.WriteLine($"--- {socket.RemoteEndPoint} {protocol} ping statistics ---");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{sent} probes sent, {rtts.Count} answered, {loss:F1}% loss, time {elapsed.TotalMilliseconds:F0} ms"));
        if (rtts.Count == 0)
            return;
        rtts.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rtt min/avg/p50/p99/max = {rtts[0]:F3}/{rtts.Average():F3}/{Percentile(rtts, 50):F3}/{Percentile(rtts, 99):F3}/{rtts[^1]:F3} ms"));
    }

    // Nearest rank: the smallest value with at least p% of the values at or below it.
    private static double Percentile(List<double> sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];

    private sealed record ProbeSettings(int Count, int Size, bool Udp, TimeSpan Interval, TimeSpan Timeout)
    {
        public string? Validate() =>
            Count < 1 ? $"--count {Count} must be at least 1"
            : Udp && Size is < SequenceBytes or > 65507 ? $"--size {Size} must be within {SequenceBytes}..65507 for UDP (a probe carries an 8-byte sequence number)"
            : Size is < 1 or > 65536 ? $"--size {Size} must be within 1..65536 (a probe is sent whole before its answer is read)"
            : Interval < TimeSpan.Zero ? "--interval must not be negative"
            : Timeout <= TimeSpan.Zero ? "--timeout must be more than 0 seconds"
            : null;
    }
}
