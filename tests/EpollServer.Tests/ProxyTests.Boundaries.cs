// The proxy at its boundaries: socket(2) for an upstream failing with EMFILE (the client closed cleanly, counted, logged
// once per episode, the runtime's reserve given back), an upstream that is the proxy's own listening address (refused
// at start-up, by the library and by the daemon), and a silent client bounded by the first-byte timeout when the
// upstream waits for the client (--proxy-client-first), and not by default.
using System.Net;
using System.Net.Sockets;
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Protocols;
using EpollServer.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace EpollServer.Tests;

public sealed partial class ProxyTests
{
    // The EMFILE is injected where the upstream's socket is made (LoopContext.OpenSocket, internal): the test process's
    // own fds are not run out. EmfileTests runs the real thing against the daemon.
    [Fact]
    public void UpstreamSocketAtEmfile_ClientClosedCleanly_CountedLoggedOncePerEpisode_ReserveGivenBack()
    {
        using var upstream = new TestServer();
        var handler = new ProxyHandler("127.0.0.1", upstream.Port);
        using var proxy = new TestServer(handler);
        Func<int, SyscallResult> real = proxy.Server.Context.OpenSocket;
        SetOpenSocket(proxy, _ => SyscallResult.Failure(Errno.EMFILE));
        for (int i = 0; i < 2; i++)
            RefusedCleanly(proxy);
        Assert.Single(OutOfFdsLines(proxy));   // one episode, one line
        Assert.Single(proxy.Log.Lines, l => l.Contains("gave back the 16 fds reserved for the runtime", StringComparison.Ordinal));
        Assert.Empty(FdReport(proxy).ReservedFds);

        SetOpenSocket(proxy, real);   // fds again: served, and the episode is over
        using (var served = TestClient.Connect(proxy.Port))
            Assert.True(served.EchoesProbe(Patterns.For(7, 100)), "a client was not served once sockets opened again");
        proxy.WaitUntil(s => s.OpenConnections == 0, "the served client and its upstream are closed");
        SetOpenSocket(proxy, _ => SyscallResult.Failure(Errno.ENFILE));
        RefusedCleanly(proxy);
        Assert.Equal(2, OutOfFdsLines(proxy).Length);
        Assert.Equal(3, proxy.Server.Stats[Counter.ConnectsNoFds]);
        Assert.Equal(0, handler.UpstreamUnreachable);   // not the upstream's fault
    }

    // Closed without a byte, by a FIN (ReceiveToEnd throws on a reset), and gone before the next client comes.
    private static void RefusedCleanly(TestServer proxy)
    {
        using (var client = TestClient.Connect(proxy.Port))
            Assert.Empty(client.ReceiveToEnd());
        proxy.WaitUntil(s => s.OpenConnections == 0, "the refused client is closed");
    }

    private static string[] OutOfFdsLines(TestServer proxy) =>
        [.. proxy.Log.Lines.Where(l => l.Contains("out of file descriptors", StringComparison.Ordinal) && l.Contains("for an outgoing connection", StringComparison.Ordinal))];

    private static FdReport FdReport(TestServer proxy)
    {
        Task<FdReport> report = proxy.Server.GetFdReportAsync();
        Assert.True(report.Wait(TestClient.TimeoutMs), "the loop did not answer");
        return report.Result;
    }

    // On the loop thread, which reads it: the change is in place before the next accept.
    private static void SetOpenSocket(TestServer proxy, Func<int, SyscallResult> open)
    {
        using var set = new ManualResetEventSlim();
        proxy.Server.Loop.Post(() =>
        {
            proxy.Server.Context.OpenSocket = open;
            set.Set();
        });
        Assert.True(set.Wait(TestClient.TimeoutMs), "the loop did not run the post");
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1", true)]
    [InlineData("127.0.0.1", "0.0.0.0", true)]     // Linux connects the wildcard address to loopback
    [InlineData("::", "127.0.0.1", true)]           // the dual-stack wildcard listener takes IPv4 too
    [InlineData("::", "localhost", true)]           // a name, resolved at start-up
    [InlineData("::", "::1", true)]
    [InlineData("127.0.0.1", "127.0.0.2", false)]   // another loopback address: another listener's
    public void UpstreamThatIsThisServersOwnAddress_IsRefusedAtStart(string address, string upstreamHost, bool refused)
    {
        using Socket held = HoldPort(address, out int port);
        var options = new ServerOptions { Address = address, Port = port, Reactors = "1", Accept = "reuseport" };
        using var server = new Server(options, new ProxyHandler(upstreamHost, port));
        if (!refused)
        {
            server.Start();
            return;
        }
        var error = Assert.Throws<ServerStartException>(server.Start);
        Assert.Contains($"the upstream {upstreamHost}:{port} is this server's own listening address", error.Message);
        // Its listener is closed again: nothing answers on the port (the held socket does not listen).
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.Throws<SocketException>(() => probe.Connect(IPAddress.Loopback, port));
    }

    [Fact]
    public void DaemonWhoseUpstreamIsItself_ExitsWithOneLine()
    {
        using Socket held = HoldPort("127.0.0.1", out int port);
        using var daemon = DaemonProcess.Start($"--address 127.0.0.1 --port {port} --accept reuseport --protocol proxy --upstream 127.0.0.1:{port}",
            expectListening: false);
        Assert.Equal(1, daemon.WaitForExit());
        Assert.Contains(daemon.Lines, l => l.Contains($"the upstream 127.0.0.1:{port} is this server's own listening address", StringComparison.Ordinal));
        Assert.DoesNotContain(daemon.Lines, l => l.Contains("listening on", StringComparison.Ordinal));
    }

    // A port of the kernel's choosing, held (bound with SO_REUSEPORT, never listening) for the whole test, so no other
    // program can take it; the server under test binds it too, with SO_REUSEPORT (--accept reuseport).
    private static Socket HoldPort(string address, out int port)
    {
        IPAddress ip = IPAddress.Parse(address);
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (ip.AddressFamily == AddressFamily.InterNetworkV6)
            socket.DualMode = true;
        socket.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
        socket.Bind(new IPEndPoint(ip, 0));
        port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        return socket;
    }

    [Fact]
    public void SilentClient_ClosedByTheFirstByteTimeout_WhenTheUpstreamWaitsForIt_NotByDefault()
    {
        using var upstream = new TestServer(configure: o => o.FirstByteTimeout = TimeSpan.Zero);
        var second = TimeSpan.FromSeconds(1);
        using var proxy = new TestServer(new ProxyHandler("127.0.0.1", upstream.Port, clientSpeaksFirst: true),
            o => o.FirstByteTimeout = 3 * second, clock: new FakeTimeProvider());
        using var silent = TestClient.Connect(proxy.Port);
        using var talker = TestClient.Connect(proxy.Port);
        Assert.True(talker.EchoesProbe([1]));
        proxy.WaitUntil(s => s.OpenConnections == 4, "both clients and their upstream connections are open");
        proxy.Advance(2 * second);
        Assert.Equal(4, proxy.Server.OpenConnections);
        proxy.Advance(second);
        Assert.Empty(silent.ReceiveToEnd());
        Assert.True(talker.EchoesProbe([2]));
        Assert.Equal(1, proxy.Server.Stats[Counter.FirstByteTimeouts]);

        // By default the upstream may greet first: a client waiting for it is not silent.
        using var greeted = new TestServer(new ProxyHandler("127.0.0.1", upstream.Port), o => o.FirstByteTimeout = 3 * second,
            clock: new FakeTimeProvider());
        using var listener = TestClient.Connect(greeted.Port);
        greeted.WaitUntil(s => s.OpenConnections == 2, "the client and its upstream connection are open");
        greeted.Advance(10 * second);
        Assert.True(listener.EchoesProbe([3]));
        Assert.Equal(0, greeted.Server.Stats[Counter.FirstByteTimeouts]);
    }

    // The daemon's flag reaches the handler: on the real clock, so the wait is for the close, within the client's 10 s
    // receive timeout, far beyond the 1 s first-byte timeout (without the flag only the 300 s idle timeout would end
    // it); the client that spoke is still served after it.
    [Fact]
    public void DaemonWithProxyClientFirst_ClosesASilentClient()
    {
        using var echo = DaemonProcess.Start("--address 127.0.0.1 --port 0 --first-byte-timeout 0");
        using var proxy = DaemonProcess.Start($"--address 127.0.0.1 --port 0 --protocol proxy --upstream 127.0.0.1:{echo.Port} " +
            "--proxy-client-first --first-byte-timeout 1");
        using var talker = TestClient.Connect(proxy.Port);
        Assert.True(talker.EchoesProbe([1]));
        using var silent = TestClient.Connect(proxy.Port);
        Assert.Empty(silent.ReceiveToEnd());
        Assert.True(talker.EchoesProbe([2]));
    }
}
