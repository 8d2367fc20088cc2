// `epollserver ping`: per-probe lines and the summary, parsed and checked for consistency, over TCP and UDP.
using System.Globalization;
using System.Text.RegularExpressions;
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
        using var server = new TestServer(configure: o => o.UdpEcho = true);
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
        server.WaitUntil(s => udp ? s.Stats.DatagramsSent == 5 : s.Stats.BytesSent == 5L * size, "the server answered every probe");
    }

    [Fact]
    public void Udp_NothingListening_ReportsLossAndExitsOne()
    {
        int port;
        using (var server = new TestServer(configure: o => o.UdpEcho = true))
            port = server.Port;
        using var ping = DaemonProcess.Start($"ping 127.0.0.1 {port} -c 3 -i 0 -W 0.5 --udp", expectListening: false);
        Assert.Equal(1, ping.WaitForExit());
        Assert.Contains("3 probes sent, 0 answered, 100.0% loss", ping.Output, StringComparison.Ordinal);
    }

    // The chat server greets instead of echoing: the answer differs from the probe, and ping says so.
    [Fact]
    public void NotAnEchoServer_WrongAnswerIsReported()
    {
        using var server = new TestServer(new ChatHandler());
        using var ping = DaemonProcess.Start($"ping 127.0.0.1 {server.Port} -c 3 -s 16 -i 0", expectListening: false);
        Assert.Equal(1, ping.WaitForExit());
        Assert.Contains("seq=1 wrong answer: the bytes differ from the probe", ping.Output, StringComparison.Ordinal);
        Assert.Contains("3 probes sent, 0 answered, 100.0% loss", ping.Output, StringComparison.Ordinal);
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
