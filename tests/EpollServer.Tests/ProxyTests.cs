// --protocol proxy: every byte both ways between each client and its own upstream connection, backpressure in both
// directions with the proxy's memory bounded by its rings, half-close passed through each way, a reset on either side
// resetting the other, an unreachable upstream and one that never accepts each ending the client at once, counted,
// and 500 clients at a time with the proxy's fds back to where they were.
using System.Net;
using System.Net.Sockets;
using EpollServer.Diagnostics;
using EpollServer.Protocols;
using EpollServer.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace EpollServer.Tests;

public sealed partial class ProxyTests
{
    [Fact]
    public void SixteenMiBEachWay_ThroughTheProxyDaemonToTheEchoDaemon_EveryByteCompared()
    {
        using var echo = DaemonProcess.Start("--address 127.0.0.1 --port 0");
        using var proxy = DaemonProcess.Start($"--address 127.0.0.1 --port 0 --protocol proxy --upstream 127.0.0.1:{echo.Port}");
        using var client = TestClient.Connect(proxy.Port);
        byte[] payload = Patterns.For(16, 16 * 1024 * 1024);
        var receiving = Task.Factory.StartNew(() => client.ReceiveToEnd(payload.Length), TaskCreationOptions.LongRunning);
        client.Send(payload);
        client.Socket.Shutdown(SocketShutdown.Send);   // the FIN goes through too, and the echo's FIN comes back
        Assert.True(receiving.Wait(60_000), "the echo did not come back through the proxy");
        Assert.True(payload.AsSpan().SequenceEqual(receiving.Result), $"{receiving.Result.Length} bytes came back, not the 16 MiB sent");
    }

    [Fact]
    public void FiveHundredClientsAtOnce_AllServed_TheProxysFdsBackToBaseline()
    {
        using var echo = DaemonProcess.Start("--address 127.0.0.1 --port 0");
        using var proxy = DaemonProcess.Start($"--address 127.0.0.1 --port 0 --protocol proxy --upstream 127.0.0.1:{echo.Port}");
        DaemonFdReport.Request(proxy);   // the stats path's own first-use fds are part of the baseline
        int baseline = ProcFd.Count(proxy.Pid);
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < 500; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 30_000 };
                clients.Add(socket);
                socket.Connect(IPAddress.Loopback, proxy.Port);
            }
            Wait.Until(() => ProcFd.Count(proxy.Pid) >= baseline + 1000, "500 clients and 500 upstream connections open", 60_000);
            for (int i = 0; i < clients.Count; i++)
                clients[i].Send(Patterns.For(i, 100));
            for (int i = 0; i < clients.Count; i++)
            {
                var answer = new byte[100];
                for (int got = 0; got < answer.Length;)
                    got += clients[i].Receive(answer, got, answer.Length - got, SocketFlags.None);
                Assert.Equal(Patterns.For(i, 100), answer);
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        Wait.Until(() => ProcFd.Count(proxy.Pid) == baseline, $"the proxy's fds are back to {baseline}", 60_000);
        Assert.Equal(0, DaemonFdReport.Request(proxy).Connections);
    }

    [Fact]
    public void SlowClient_TheUpstreamIsNoLongerRead_TheProxyHoldsOnlyItsRings()
    {
        using var upstream = new TestServer();
        using var proxy = new TestServer(new ProxyHandler("127.0.0.1", upstream.Port));
        using var client = TestClient.Connect(proxy.Port, receiveBuffer: 4096);
        byte[] payload = Patterns.For(3, 8 * 1024 * 1024);
        var sending = Task.Factory.StartNew(() => client.Send(payload), TaskCreationOptions.LongRunning);
        // The client reads nothing: its echo backs up into the proxy, which stops reading from the upstream.
        proxy.WaitUntil(s => s.Stats[Counter.ReadPauses] > 0, "the proxy paused a side's reading");
        Wait.Until(() => Stalled(proxy), "the forwarding stood still against the slow client", 30_000);
        Assert.InRange(proxy.Server.Context.InputPool.Allocated, 1, 2);     // one input ring per side
        Assert.InRange(proxy.Server.Context.OutputPool.Allocated, 1, 2);    // one output ring per side

        byte[] back = client.ReceiveExactly(payload.Length);   // now it reads, and everything flows again
        Assert.True(sending.Wait(30_000));
        Assert.True(payload.AsSpan().SequenceEqual(back), "the echo through a paused proxy differs");
    }

    [Fact]
    public void SlowUpstream_TheClientIsNoLongerRead_EveryByteArrivesInOrder()
    {
        using var upstream = new RawUpstream(receiveBuffer: 4096);
        using var proxy = new TestServer(new ProxyHandler("127.0.0.1", upstream.Port));
        using var client = TestClient.Connect(proxy.Port);
        byte[] payload = Patterns.For(4, 4 * 1024 * 1024);
        var sending = Task.Factory.StartNew(() =>
        {
            client.Send(payload);
            client.Socket.Shutdown(SocketShutdown.Send);
        }, TaskCreationOptions.LongRunning);
        Socket far = upstream.Accept();
        // The upstream reads nothing until the proxy has had to stop reading its client.
        proxy.WaitUntil(s => s.Stats[Counter.ReadPauses] > 0, "the proxy paused the client's reading against the slow upstream");
        Assert.InRange(proxy.Server.Context.InputPool.Allocated, 1, 2);
        Assert.InRange(proxy.Server.Context.OutputPool.Allocated, 1, 2);
        var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int n;
        while ((n = far.Receive(buffer)) > 0)   // 16 KiB at a time, until the client's FIN comes through
            received.Write(buffer, 0, n);
        Assert.True(sending.Wait(30_000));
        Assert.True(payload.AsSpan().SequenceEqual(received.ToArray()), $"the upstream got {received.Length} bytes, not the 4 MiB sent");
    }

    // Both directions shut (the client's FIN passed on, then the upstream's) while the proxy has stopped reading the
    // upstream for a client that does not read: the hang-up the kernel reports then must not cost the bytes still
    // unread. The answer is small enough for the upstream's FIN to reach the proxy's kernel while the proxy is paused.
    [Fact]
    public void HangUpWhileReadingIsPaused_EveryByteStillArrives()
    {
        using var upstream = new RawUpstream();
        using var proxy = new TestServer(new ProxyHandler("127.0.0.1", upstream.Port));
        using var client = TestClient.Connect(proxy.Port, receiveBuffer: 4096);
        proxy.WaitUntil(s => s.OpenConnections == 2, "the client and its upstream connection");
        ShrinkSendBuffers(proxy);   // the client side's output backs up into the proxy's ring at once
        client.Send("send me a lot");
        client.Socket.Shutdown(SocketShutdown.Send);
        Socket far = upstream.Accept();
        Assert.Equal("send me a lot", ReadToEnd(far));
        byte[] answer = Patterns.For(8, 128 * 1024);
        far.Send(answer);
        far.Close();   // the answer, then the FIN: both directions are now shut
        proxy.WaitUntil(s => s.Stats[Counter.ReadPauses] > 0, "the proxy paused the upstream for the client");
        Wait.Until(() => Stalled(proxy), "the proxy stopped reading with the upstream's FIN in its kernel buffer");
        byte[] received = client.ReceiveToEnd(answer.Length);
        Assert.True(answer.AsSpan().SequenceEqual(received), $"{received.Length} of {answer.Length} bytes arrived");
        proxy.WaitUntil(s => s.OpenConnections == 0, "both sides closed");
    }

    // Loopback send buffers grow to megabytes; a test-only setsockopt on the proxy's sockets keeps them small, so
    // that the proxy's own rings are where the backlog builds.
    private static void ShrinkSendBuffers(TestServer proxy)
    {
        foreach (int fd in proxy.Server.GetFdReportAsync().Result.ConnectionFds)
            Assert.True(EpollServer.Interop.Sys.SetSockOpt(fd, EpollServer.Interop.Libc.SOL_SOCKET, EpollServer.Interop.Libc.SO_SNDBUF, 4096).Ok);
    }

    [Fact]
    public void ClientHalfClose_ReachesTheUpstream_WhichStillAnswers()
    {
        using var upstream = new RawUpstream();
        using var proxy = new TestServer(new ProxyHandler("127.0.0.1", upstream.Port));
        using var client = TestClient.Connect(proxy.Port);
        client.Send("question");
        client.Socket.Shutdown(SocketShutdown.Send);
        Socket far = upstream.Accept();
        Assert.Equal("question", ReadToEnd(far));   // the bytes, then the FIN
        far.Send("answer after your FIN"u8);
        far.Close();
        Assert.Equal("answer after your FIN", System.Text.Encoding.ASCII.GetString(client.ReceiveToEnd()));
        proxy.WaitUntil(s => s.OpenConnections == 0, "both sides closed");
    }

    [Fact]
    public void UpstreamHalfClose_ReachesTheClient_WhichStillSends()
    {
        using var upstream = new RawUpstream();
        using var proxy = new TestServer(new ProxyHandler("127.0.0.1", upstream.Port));
        using var client = TestClient.Connect(proxy.Port);
        Socket far = upstream.Accept();
        far.Send("hello, then my FIN"u8);
        far.Shutdown(SocketShutdown.Send);
        Assert.Equal("hello, then my FIN", System.Text.Encoding.ASCII.GetString(client.ReceiveToEnd()));
        client.Send("late, but delivered");
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("late, but delivered", ReadToEnd(far));
        proxy.WaitUntil(s => s.OpenConnections == 0, "both sides closed");
    }

    [Fact]
    public void ClientReset_ResetsTheUpstream()
    {
        using var upstream = new RawUpstream();
        using var proxy = new TestServer(new ProxyHandler("127.0.0.1", upstream.Port));
        var client = TestClient.Connect(proxy.Port);
        client.Send("x");
        Socket far = upstream.Accept();
        Assert.Equal((byte)'x', ReceiveOne(far));
        client.Socket.LingerState = new LingerOption(true, 0);
        client.Dispose();   // RST
        var reset = Assert.Throws<SocketException>(() => ReadToEnd(far));
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
        proxy.WaitUntil(s => s.OpenConnections == 0, "both sides closed");
    }

    [Fact]
    public void UpstreamReset_ResetsTheClient()
    {
        using var upstream = new RawUpstream();
        using var proxy = new TestServer(new ProxyHandler("127.0.0.1", upstream.Port));
        using var client = TestClient.Connect(proxy.Port);
        Socket far = upstream.Accept();
        far.Send("y"u8);
        Assert.Equal([(byte)'y'], client.ReceiveExactly(1));
        far.LingerState = new LingerOption(true, 0);
        far.Close();   // RST
        var reset = Assert.Throws<SocketException>(() => client.ReceiveToEnd());
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
        proxy.WaitUntil(s => s.OpenConnections == 0, "both sides closed");
        Assert.Equal(1, proxy.Server.Stats[Counter.ConnectionsReset]);
    }

    // The upstream by host name (resolved off the loop thread) and by IPv6 literal: the same stream either way.
    [Theory]
    [InlineData("localhost", "127.0.0.1")]
    [InlineData("::1", "::1")]
    public void UpstreamByNameOrIPv6_IsReached(string upstreamHost, string echoAddress)
    {
        using var echo = new TestServer(address: echoAddress);
        using var proxy = new TestServer(new ProxyHandler(upstreamHost, echo.Port));
        using var client = TestClient.Connect(proxy.Port);
        Assert.True(client.EchoesProbe(Patterns.For(6, 10_000)), $"no echo through the proxy to {upstreamHost}: {proxy.Server.Stats}");
        Assert.Equal(1, proxy.Server.Stats[Counter.ConnectsSucceeded]);
    }

    [Fact]
    public void UpstreamNameThatDoesNotResolve_TheClientIsClosed_AndItIsCounted()
    {
        var handler = new ProxyHandler("no-such-host.invalid", 7);   // .invalid never resolves (RFC 2606)
        // On the test's clock the connect timeout cannot cut the lookup short, however slow this machine's resolver.
        using var proxy = new TestServer(handler, clock: new FakeTimeProvider());
        using var client = TestClient.Connect(proxy.Port);
        proxy.WaitUntil(_ => handler.UpstreamUnreachable == 1, "the unresolvable upstream counted", 120_000);
        Assert.Empty(client.ReceiveToEnd());
        Assert.Equal(1, proxy.Server.Stats[Counter.ConnectFailures]);
    }

    [Fact]
    public void UpstreamRefuses_TheClientIsClosedWithoutAByte_AndItIsCounted()
    {
        using Socket refusing = BoundNeverListening();
        var handler = new ProxyHandler("127.0.0.1", ((IPEndPoint)refusing.LocalEndPoint!).Port);
        using var proxy = new TestServer(handler);
        using var client = TestClient.Connect(proxy.Port);
        Assert.Empty(client.ReceiveToEnd());
        proxy.WaitUntil(_ => handler.UpstreamUnreachable == 1, "the unreachable upstream counted");
        Assert.Equal(1, proxy.Server.Stats[Counter.ConnectFailures]);
    }

    [Fact]
    public void UpstreamThatNeverAccepts_TheConnectTimesOut_TheClientIsClosed()
    {
        // A listener whose accept queue is full drops further SYNs: a connect to it stays pending.
        using var full = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        full.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        full.Listen(0);
        int port = ((IPEndPoint)full.LocalEndPoint!).Port;
        var fillers = Enumerable.Range(0, 2).Select(_ => ConnectPending(port)).ToList();
        try
        {
            var handler = new ProxyHandler("127.0.0.1", port);
            using var proxy = new TestServer(handler, o => o.ConnectTimeout = TimeSpan.FromSeconds(5), clock: new FakeTimeProvider());
            using var client = TestClient.Connect(proxy.Port);
            proxy.WaitUntil(s => s.Stats[Counter.ConnectsStarted] == 1, "the upstream connect began");
            proxy.Advance(TimeSpan.FromSeconds(4));
            Assert.Equal(0, proxy.Server.Stats[Counter.ConnectTimeouts]);
            proxy.Advance(TimeSpan.FromSeconds(1));
            Assert.Empty(client.ReceiveToEnd());
            Assert.Equal(1, proxy.Server.Stats[Counter.ConnectTimeouts]);
            Assert.Equal(1, handler.UpstreamUnreachable);
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    private static bool Stalled(TestServer proxy)
    {
        long before = proxy.Server.Stats[Counter.BytesReceived];
        Thread.Sleep(100);
        return proxy.Server.Stats[Counter.BytesReceived] == before;
    }

    // Bound, never listening: a connect to its port is refused. The caller holds it for the whole test, so no other
    // program can take the port in between.
    private static Socket BoundNeverListening()
    {
        var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return probe;
    }

    private static Socket ConnectPending(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
        try
        {
            socket.Connect(IPAddress.Loopback, port);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
        }
        return socket;
    }

    private static string ReadToEnd(Socket socket)
    {
        socket.ReceiveTimeout = TestClient.TimeoutMs;
        var text = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = socket.Receive(buffer)) > 0)
            text.Write(buffer, 0, n);
        return System.Text.Encoding.ASCII.GetString(text.ToArray());
    }

    private static byte ReceiveOne(Socket socket)
    {
        socket.ReceiveTimeout = TestClient.TimeoutMs;
        var one = new byte[1];
        Assert.Equal(1, socket.Receive(one));
        return one[0];
    }

    // An upstream the test scripts by hand: a loopback listener whose accepted socket the test reads and writes.
    private sealed class RawUpstream : IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly List<Socket> _accepted = [];

        // receiveBuffer: set on the listener, so that an accepted socket starts with it (shrinking an established
        // window instead leaves the peer crawling on zero-window probes).
        public RawUpstream(int? receiveBuffer = null)
        {
            if (receiveBuffer is int size)
                _listener.ReceiveBufferSize = size;
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(16);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

        public Socket Accept()
        {
            Assert.True(_listener.Poll(TestClient.TimeoutMs * 1000, SelectMode.SelectRead), "the proxy never connected upstream");
            Socket socket = _listener.Accept();
            socket.ReceiveTimeout = TestClient.TimeoutMs;
            socket.SendTimeout = TestClient.TimeoutMs;
            _accepted.Add(socket);
            return socket;
        }

        public void Dispose()
        {
            _accepted.ForEach(s => s.Dispose());
            _listener.Dispose();
        }
    }
}
