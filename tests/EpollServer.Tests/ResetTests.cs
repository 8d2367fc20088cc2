// A client that resets mid-transfer costs only its own connection: the daemon (a real process, so a SIGPIPE would
// kill it) keeps serving everyone else.
using System.Net.Sockets;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class ResetTests
{
    [Fact]
    public void ClientResetMidTransfer_ServerSurvivesAndKeepsServingOthers()
    {
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0");
        using var bystander = TestClient.Connect(daemon.Port);
        Assert.True(bystander.EchoesProbe(Patterns.For(1, 1000)));

        for (int round = 0; round < 20; round++)
        {
            // Fill the server's output toward this peer (it does not read), then reset: the next send gets EPIPE or
            // ECONNRESET, which without MSG_NOSIGNAL would raise SIGPIPE.
            var rude = TestClient.Connect(daemon.Port, receiveBuffer: 4096);
            byte[] flood = Patterns.For(round, 512 * 1024);
            try
            {
                rude.Socket.SendTimeout = 500;
                rude.Socket.Send(flood);
            }
            catch (SocketException)
            {
                // The server stopped reading (backpressure): exactly the state to reset in.
            }
            rude.Socket.LingerState = new LingerOption(true, 0);
            rude.Dispose();
            Assert.True(bystander.EchoesProbe(Patterns.For(100 + round, 2000)), $"the bystander was not served after reset {round}");
        }
        Assert.False(daemon.HasExited, "the daemon died");
        Wait.Until(() => DaemonFdReport.Request(daemon).Connections == 1, "the reset connections are all closed");
    }
}
