// `epollserver client`: stdin to the server and the server to stdout at the same time, driven through pipes.
using System.Text;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class ClientCommandTests
{
    [Fact]
    public void PipedInput_EveryLineComesBack_ExitsZeroWhenTheServerCloses()
    {
        using var server = new TestServer(new LineEchoHandler());
        using var client = DaemonProcess.Start($"client 127.0.0.1 {server.Port}", expectListening: false, redirectInput: true);
        string[] lines = Enumerable.Range(0, 1000).Select(i => $"line {i} 안녕 {new string('x', i % 50)}").ToArray();
        client.StandardInput.Write(string.Join('\n', lines));   // the last line has no LF: echoed at EOF all the same
        client.StandardInput.Close();
        Assert.Equal(0, client.WaitForExit());
        Assert.Equal(lines, client.Lines.Where(l => !l.StartsWith("stderr: ", StringComparison.Ordinal)));
    }

    // Both directions at once: what the room says is printed while stdin is still open, and what is typed is sent.
    [Fact]
    public void Chat_ReceivesWhileTyping_BothDirectionsAtOnce()
    {
        using var server = new TestServer(new ChatHandler());
        using var peer = TestClient.Connect(server.Port);
        peer.ReadLine();
        using var client = DaemonProcess.Start($"client 127.0.0.1 {server.Port}", expectListening: false, redirectInput: true);
        Assert.Equal("* guest2 joined #lobby", peer.ReadLine());
        client.WaitForLine("* welcome to EpollServer chat: you are guest2 in #lobby with 1 other; /help lists the commands");
        peer.Send("hi from the peer\n");
        client.WaitForLine("<guest1> hi from the peer");
        client.StandardInput.Write("/nick typist\nhello back\n");
        client.StandardInput.Flush();
        Assert.Equal("* guest2 is now typist", peer.ReadLine());
        Assert.Equal("<typist> hello back", peer.ReadLine());
        client.StandardInput.Close();
        Assert.Equal(0, client.WaitForExit());
        Assert.Equal("* typist left", peer.ReadLine());
    }

    [Fact]
    public void ServerStops_ClientExitsZero_WithStdinStillOpen()
    {
        var server = new TestServer();
        using var client = DaemonProcess.Start($"client 127.0.0.1 {server.Port}", expectListening: false, redirectInput: true);
        client.StandardInput.Write("ping\n");
        client.StandardInput.Flush();
        client.WaitForLine("ping");
        server.Dispose();
        Assert.Equal(0, client.WaitForExit());
    }

    [Fact]
    public void NothingListening_ExitsOneWithTheErrno()
    {
        int port;
        using (var server = new TestServer())
            port = server.Port;
        using var client = DaemonProcess.Start($"client 127.0.0.1 {port}", expectListening: false, redirectInput: true);
        Assert.Equal(1, client.WaitForExit());
        Assert.Contains(client.Lines, l => l.Contains($"epollserver client: cannot connect to 127.0.0.1 port {port}: ECONNREFUSED", StringComparison.Ordinal));
    }
}
