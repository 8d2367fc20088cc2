// Code that throws on the loop thread costs one connection, once: a handler that throws is closed, counted and logged
// once while the others are served; a dispatch target that throws is taken off the poller (level-triggered, it would
// fire on every wait) and closed, not left to flood the log.
using EpollServer.Buffers;
using EpollServer.Diagnostics;
using EpollServer.Interop;
using EpollServer.Net;
using EpollServer.Protocols;
using EpollServer.Reactor;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class HandlerFailureTests
{
    // Echo, except that a byte 'X' makes it throw.
    private sealed class ThrowsOnX : IProtocolHandler
    {
        public int Closes;

        public string Name => "throws-on-x";

        public int OnData(Connection connection, ReadableBytes data)
        {
            if (data.IndexOf((byte)'X') >= 0)
                throw new InvalidOperationException("X marks the bug");
            return connection.Write(data) ? data.Length : 0;
        }

        public void OnClose(Connection connection) => Interlocked.Increment(ref Closes);
    }

    [Fact]
    public void HandlerThatThrows_ClosesThatConnectionOnce_LogsOnce_OthersAreServed()
    {
        var handler = new ThrowsOnX();
        using var server = new TestServer(handler);
        using var victim = TestClient.Connect(server.Port);
        using var bystander = TestClient.Connect(server.Port);
        Assert.True(victim.EchoesProbe("ok"u8.ToArray()));
        victim.Send("X"u8);
        Assert.Empty(victim.ReceiveToEnd());
        server.WaitUntil(s => handler.Closes == 1, "the handler heard of the close");
        Assert.True(bystander.EchoesProbe("still here"u8.ToArray()));
        Assert.Equal(1, server.Server.Stats[Counter.HandlerErrors]);
        Assert.Single(server.Log.Lines, l => l.Contains("X marks the bug", StringComparison.Ordinal));
        Assert.Equal(1, handler.Closes);
    }

    private sealed class ThrowingTarget : IPollable
    {
        public int Events;
        public int Failures;

        public void OnPollEvent(PollEvents events)
        {
            Interlocked.Increment(ref Events);
            throw new InvalidOperationException("a bug in a dispatch target");
        }

        public void OnDispatchFailed(Exception error) => Interlocked.Increment(ref Failures);
    }

    [Fact]
    public void DispatchTargetThatThrows_IsRemovedClosedAndCountedOnce_TheLoopGoesOn()
    {
        var log = new CapturingLogger();
        Assert.True(EpollPoller.Create(64, out EpollPoller? poller).Ok);
        Assert.True(EventLoop.Create(poller!, 64, log, out EventLoop? loop).Ok);
        SyscallResult eventFd = Sys.EventFd();
        Assert.True(eventFd.Ok);
        try
        {
            var target = new ThrowingTarget();
            Assert.True(loop!.Register(target, eventFd.Fd, Interest.Read, out _).Ok);
            Assert.True(Sys.Write(eventFd.Fd, BitConverter.GetBytes(1UL)).Ok);   // readable until read: it would fire forever
            var thread = new Thread(loop.Run) { IsBackground = true };
            thread.Start();
            Wait.Until(() => Volatile.Read(ref target.Failures) == 1, "the target was told of its failure");
            // Three more trips round the loop: had it stayed registered, it would have fired on each.
            for (int i = 0; i < 3; i++)
            {
                var ran = new ManualResetEventSlim();
                loop.Post(ran.Set);
                Assert.True(ran.Wait(30_000), "the loop stopped running posted work");
            }
            loop.Post(loop.Stop);
            Assert.True(thread.Join(30_000));
            Assert.Equal(1, target.Events);
            Assert.Equal(1, loop.DispatchFailures);
            Assert.Single(log.Lines, l => l.Contains("a bug in a dispatch target", StringComparison.Ordinal));
        }
        finally
        {
            Sys.Close(eventFd.Fd);
            loop!.Dispose();
        }
    }
}
