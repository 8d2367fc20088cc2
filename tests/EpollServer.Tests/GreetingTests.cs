// --greeting: the kqueue lesson's "Hello", sent on connect before whatever the protocol says (GreetingHandler wraps
// any protocol).
using System.Net.Sockets;
using EpollServer.Protocols;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class GreetingTests
{
    [Fact]
    public void Echo_GreetsFirst_ThenEchoesEveryByte()
    {
        using var server = new TestServer(new GreetingHandler("Hello", new EchoHandler()));
        using var client = TestClient.Connect(server.Port);
        Assert.Equal("Hello\n"u8.ToArray(), client.ReceiveExactly(6));
        byte[] payload = Patterns.For(1, 100_000);
        var receiving = Task.Run(() => client.ReceiveExactly(payload.Length));
        client.Send(payload);
        Assert.Equal(payload, receiving.Result);
    }

    [Fact]
    public void Reverse_GreetingEndingInNewline_IsSentAsIs()
    {
        using var server = new TestServer(new GreetingHandler("안녕하세요!\n", new ReverseHandler()));
        using var client = TestClient.Connect(server.Port);
        Assert.Equal("안녕하세요!", client.ReadLine());
        client.Send("abc");
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("cba", System.Text.Encoding.UTF8.GetString(client.ReceiveToEnd()));
    }

    [Fact]
    public void Chat_GreetingComesBeforeTheWelcome()
    {
        using var server = new TestServer(new GreetingHandler("Hello", new ChatHandler()));
        using var client = TestClient.Connect(server.Port);
        Assert.Equal("Hello", client.ReadLine());
        Assert.StartsWith("* welcome to EpollServer chat: you are guest1", client.ReadLine(), StringComparison.Ordinal);
    }
}
