// `epollserver ping`: per-probe lines and the summary, parsed and checked for consistency, over TCP and UDP.
using System.Globalization;
using System.Text.RegularExpressions;
using EpollServer.Diagnostics;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed partial class PingCommandTests
{
    [Theory]
    [InlineData(false, 100)]
    [InlineData(true, 1000)]
    [InlineData(true, 65507)]
    public void EveryProbeAnswered_SummaryIsConsistent(bool udp, int size)
    {
        using var server = new TestServer(configure: o => o.Udp = true);
        using var ping = DaemonProcess.Start($"ping 127.0.0.1 {server.Port} -c 5 -s {size} -i 0 {(udp ? "--udp" : "")}", expectListening: false);
        Assert.Equal(0, ping.WaitForExit());
        var probes = ping.Lines.Select(l => ProbeLine().Match(l)).Where(m => m.Success).ToList();
        Assert.Equal([1, 2, 3, 4, 5], probes.Select(m => int.Parse(m.Groups["seq"].Value)));
        Assert.All(probes, m => Assert.Equal($"{size} bytes from 127.0.0.1:{server.Port}", m.Groups["from"].Value));
        Assert.Contains("5 probes sent, 5 answered, 0.0% loss", ping.Output, StringComparison.Ordinal);
        double[] rtt = Summary(ping);
        double[] times = probes.Select(m => double.Parse(m.Groups["ms"].Value, CultureInfo.InvariantCulture)).Order().ToArray();
        Assert.Equal(times[0], rtt[0], 3);                 // min
        Assert.Equal(times.Average(), rtt[1], 0.0011);     // avg of the raw times; the probes' figures are rounded
        Assert.Equal(times[2], rtt[2], 3);                 // p50 of 5 is the 3rd
        Assert.Equal(times[4], rtt[3], 3);                 // p99 of 5 is the 5th
        Assert.Equal(times[4], rtt[4], 3);                 // max
        server.WaitUntil(s => udp ? s.Stats[Counter.DatagramsSent] == 5 : s.Stats[Counter.BytesSent] == 5L * size, "the server answered every probe");
    }

    [Fact]
    public void Udp_NothingListening_ReportsLossAndExitsOne()
    {
        int port;
        using (var server = new TestServer(configure: o => o.Udp = true))
            port = server.Port;
        using var ping = DaemonProcess.Start($"ping 127.0.0.1 {port} -c 3 -i 0 -W 0.5 --udp", expectListening: false);
        Assert.Equal(1, ping.WaitForExit());
        Assert.Contains("3 probes sent, 0 answered, 100.0% loss", ping.Output, StringComparison.Ordinal);
    }

    // An echo server that greets first (--greeting) answers every probe: the greeting is skipped and shown, whether
    // it is shorter or longer than a probe.
    [Theory]
    [InlineData("hello, this is the greeting", 64)]
    [InlineData("a greeting longer than the probe", 8)]
    public void GreetingBeforeTheEcho_IsSkipped_EveryProbeAnswered(string greeting, int size)
    {
        using var server = new TestServer(new GreetingHandler(greeting, new EchoHandler()));
        using var ping = DaemonProcess.Start($"ping 127.0.0.1 {server.Port} -c 3 -s {size} -i 0", expectListening: false);
        Assert.True(ping.WaitForExit() == 0, ping.Output);
        Assert.Contains($"the server sent a greeting before the first answer ({greeting.Length + 1} bytes, skipped): {greeting}", ping.Output, StringComparison.Ordinal);
        Assert.Contains("3 probes sent, 3 answered, 0.0% loss", ping.Output, StringComparison.Ordinal);
    }

    // The chat server greets and then does not echo: ping shows the greeting, and says the probe got no answer.
    [Fact]
    public void NotAnEchoServer_ItsGreetingIsShown_AndTheProbeIsLost()
    {
        using var server = new TestServer(new ChatHandler());
        using var ping = DaemonProcess.Start($"ping 127.0.0.1 {server.Port} -c 3 -s 16 -i 0 -W 0.5", expectListening: false);
        Assert.Equal(1, ping.WaitForExit());
        Assert.Contains("the server sent a greeting before the first answer", ping.Output, StringComparison.Ordinal);
        Assert.Contains("* welcome to EpollServer chat", ping.Output, StringComparison.Ordinal);
        Assert.Contains("seq=1 timeout", ping.Output, StringComparison.Ordinal);
        Assert.Contains("3 probes sent, 0 answered, 100.0% loss", ping.Output, StringComparison.Ordinal);
    }

    // A server that answers at once with other bytes than the probe's is a wrong answer, not a greeting.
    [Fact]
    public void WrongBytesBack_AreReportedAsAWrongAnswer()
    {
        using var server = new TestServer(new UpperCaseEcho());
        using var ping = DaemonProcess.Start($"ping 127.0.0.1 {server.Port} -c 3 -s 16 -i 0 -W 0.5", expectListening: false);
        Assert.Equal(1, ping.WaitForExit());
        Assert.Contains("seq=1 wrong answer: the bytes differ from the probe", ping.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("greeting", ping.Output, StringComparison.Ordinal);
        Assert.Contains("3 probes sent, 0 answered, 100.0% loss", ping.Output, StringComparison.Ordinal);
    }

    private sealed class UpperCaseEcho : IProtocolHandler
    {
        public string Name => "upper";

        public int OnData(Net.Connection connection, Buffers.ReadableBytes data)
        {
            byte[] upper = data.ToArray();
            for (int i = 0; i < upper.Length; i++)
                upper[i] = (byte)char.ToUpperInvariant((char)upper[i]);
            return connection.Write(upper) ? upper.Length : 0;
        }
    }

    private static double[] Summary(DaemonProcess ping)
    {
        Match m = RttLine().Match(ping.Output);
        Assert.True(m.Success, ping.Output);
        return Enumerable.Range(1, 5).Select(i => double.Parse(m.Groups[i].Value, CultureInfo.InvariantCulture)).ToArray();
    }

    [GeneratedRegex(@"^(?<from>\d+ bytes from \S+): seq=(?<seq>\d+) time=(?<ms>[\d.]+) ms$")]
    private static partial Regex ProbeLine();

    [GeneratedRegex(@"rtt min/avg/p50/p99/max = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")]
    private static partial Regex RttLine();
}
