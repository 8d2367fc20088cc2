// --udp: datagram in, the same datagram out, on the TCP port; the largest and the empty datagram; truncation counted.
using System.Net;
using System.Net.Sockets;
using EpollServer.Diagnostics;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class UdpEchoTests
{
    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1", 65507, 1)]   // the largest UDP payload over IPv4
    [InlineData("127.0.0.1", "127.0.0.1", 65507, 3)]
    [InlineData("::", "::1", 65527, 1)]                 // the largest over IPv6 (no jumbogram)
    [InlineData("::", "::1", 65527, 3)]
    [InlineData("::", "127.0.0.1", 65507, 1)]           // an IPv4 peer of the dual-stack socket gets its answer
    [InlineData("::", "127.0.0.1", 65507, 3)]
    [InlineData("127.0.0.1", "127.0.0.1", 0, 1)]        // an empty datagram is a datagram too
    [InlineData("127.0.0.1", "127.0.0.1", 0, 3)]
    [InlineData("127.0.0.1", "127.0.0.1", 1, 1)]
    [InlineData("127.0.0.1", "127.0.0.1", 1, 3)]
    public void Datagram_ComesBackUnchanged(string serverAddress, string clientAddress, int size, int reactors)
    {
        using var server = new TestServer(reactors: reactors, configure: o => o.Udp = true, address: serverAddress);
        Assert.Equal(server.Port, server.Server.UdpEndPoint!.Port);
        using Socket client = UdpClientSocket(clientAddress);
        byte[] datagram = Patterns.For(size, size);
        client.SendTo(datagram, new IPEndPoint(IPAddress.Parse(clientAddress), server.Port));
        Assert.Equal(datagram, Receive(client));
        server.WaitUntil(s => s.Stats[Counter.DatagramsReceived] == 1 && s.Stats[Counter.DatagramsSent] == 1, "one datagram in, one out");
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void DatagramLongerThanTheBuffer_IsCountedAndNotEchoed_TheNextOneIs(int reactors)
    {
        using var server = new TestServer(reactors: reactors, configure: o => { o.Udp = true; o.UdpBufferSize = 1024; });
        using Socket client = UdpClientSocket("127.0.0.1");
        var to = new IPEndPoint(IPAddress.Loopback, server.Port);
        client.SendTo(Patterns.For(1, 1025), to);
        byte[] fits = Patterns.For(2, 1024);
        client.SendTo(fits, to);
        // Loopback keeps datagram order: the first answer is the second datagram, so the first got none.
        Assert.Equal(fits, Receive(client));
        server.WaitUntil(s => s.Stats[Counter.DatagramsTruncated] == 1 && s.Stats[Counter.DatagramsSent] == 1, "one truncated, one echoed");
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void ThousandDatagrams_EachAnswered_TcpStillServedOnTheSamePort(int reactors)
    {
        using var server = new TestServer(reactors: reactors, configure: o => o.Udp = true);
        using Socket udp = UdpClientSocket("127.0.0.1");
        var to = new IPEndPoint(IPAddress.Loopback, server.Port);
        for (int i = 0; i < 1000; i++)
        {
            byte[] datagram = Patterns.For(i, 1 + i % 1400);
            udp.SendTo(datagram, to);
            Assert.Equal(datagram, Receive(udp));
        }
        using var tcp = TestClient.Connect(server.Port);
        Assert.True(tcp.EchoesProbe([1, 2, 3]));
    }

    private static Socket UdpClientSocket(string address)
    {
        var socket = new Socket(IPAddress.Parse(address).AddressFamily, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = TestClient.TimeoutMs };
        socket.Bind(new IPEndPoint(IPAddress.Parse(address), 0));
        return socket;
    }

    private static byte[] Receive(Socket socket)
    {
        var buffer = new byte[65536];
        int n = socket.Receive(buffer);
        return buffer[..n];
    }
}
