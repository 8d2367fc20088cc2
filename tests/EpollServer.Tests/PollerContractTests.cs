// One contract, every backend: readiness, modify, remove, hang-up, error, stale events after close and fd reuse,
// many fds, and a wait woken from another thread. Each backend gets a subclass below; one this machine cannot run
// (kqueue without libkqueue) has every test reported as skipped with the reason ([BackendFact]).
using System.Net;
using System.Net.Sockets;
using EpollServer.Interop;
using EpollServer.Reactor;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public abstract class PollerContractTests : IDisposable
{
    private readonly List<int> _eventFds = [];
    private readonly List<Socket> _sockets = [];

    private protected PollerContractTests(IPoller poller) => Poller = poller;

    private protected IPoller Poller { get; }

    // epoll and poll report a hang-up whatever the interest; kqueue only on a write knote (see KqueuePoller).
    private protected virtual bool HangUpNeedsWriteInterest => false;

    // An error or a hang-up comes as one neutral event: readable, writable and ended (PollEvents.Failure).
    private static void AssertFailure(PollEvent ready) =>
        Assert.True((ready.Events & PollEvents.Failure) == PollEvents.Failure, $"expected readable, writable and ended; got {ready.Events}");

    [BackendFact]
    public void Readable_OnlyOnceThereIsSomethingToRead_WithItsToken()
    {
        int fd = NewEventFd();
        Assert.True(Poller.Add(fd, 41, Interest.Read).Ok);
        Assert.Empty(Wait(0));
        Signal(fd);
        PollEvent ready = Assert.Single(Wait(1000));
        Assert.Equal(41UL, ready.Token);
        Assert.True(ready.Events.HasFlag(PollEvents.Readable));
        // Level-triggered: still reported until it is read.
        Assert.Single(Wait(0));
        Drain(fd);
        Assert.Empty(Wait(0));
    }

    [BackendFact]
    public void Modify_ChangesInterestAndToken_NoneSilencesIt()
    {
        int fd = NewEventFd();
        Assert.True(Poller.Add(fd, 1, Interest.Read).Ok);
        Assert.True(Poller.Modify(fd, 2, Interest.Write).Ok);   // an eventfd is always writable
        PollEvent ready = Assert.Single(Wait(1000));
        Assert.Equal(2UL, ready.Token);
        Assert.Equal(PollEvents.Writable, ready.Events);
        Assert.True(Poller.Modify(fd, 2, Interest.None).Ok);
        Signal(fd);
        Assert.Empty(Wait(50));
        Assert.False(Poller.Modify(NewEventFd(), 3, Interest.Read).Ok, "modifying an fd never added must fail");
    }

    [BackendFact]
    public void Remove_StopsEvents_AndAddingTwiceFails()
    {
        int fd = NewEventFd();
        Assert.True(Poller.Add(fd, 1, Interest.Read).Ok);
        Assert.False(Poller.Add(fd, 1, Interest.Read).Ok, "adding the same fd twice must fail");
        Assert.True(Poller.Remove(fd).Ok);
        Signal(fd);
        Assert.Empty(Wait(50));
        Assert.False(Poller.Remove(fd).Ok);
    }

    // The peer closes: our side reads EOF (readable); once we shut down our side too, both directions are gone.
    [BackendFact]
    public void PeerClose_IsReadable_BothSidesShut_IsEnded()
    {
        (Socket local, Socket peer) = NewTcpPair();
        Assert.True(Poller.Add((int)local.Handle, 7, Interest.Read).Ok);
        Assert.Empty(Wait(0));
        peer.Close();
        PollEvent eof = Assert.Single(Wait(1000));
        Assert.True(eof.Events.HasFlag(PollEvents.Readable));
        Assert.False(eof.Events.HasFlag(PollEvents.Ended), "the peer's FIN alone ends only its direction");
        local.Shutdown(SocketShutdown.Send);
        if (HangUpNeedsWriteInterest)
        {
            // kqueue: a read knote can only say the peer's side ended (EV_EOF, readable); that ours is shut too
            // shows on a write knote (EV_EOF there is a hang-up).
            Assert.True(Assert.Single(Wait(1000)).Events.HasFlag(PollEvents.Readable));
            Assert.True(Poller.Modify((int)local.Handle, 7, Interest.Read | Interest.Write).Ok);
        }
        AssertFailure(Assert.Single(Wait(1000)));
    }

    // A non-blocking connect to a port nobody listens on fails asynchronously: the socket error is reported.
    [BackendFact]
    public void RefusedConnect_IsReportedAsAnError()
    {
        // Held bound, never listening, for the whole test: connect is refused, and no other program can take the port.
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        var socket = Track(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false });
        try
        {
            socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress or SocketError.ConnectionRefused)
        {
        }
        Assert.True(Poller.Add((int)socket.Handle, 9, Interest.Write).Ok);
        AssertFailure(Assert.Single(Wait(1000)));
    }

    // Close an fd and get its number again from the kernel: only the new registration's token is ever reported. The
    // new eventfd is put on the old number with dup2 (which closes the old one in the same call), because the lowest
    // free number is not promised to be the one just closed while other threads open and close fds.
    [BackendFact]
    public void FdNumberReused_OnlyTheNewTokenIsReported()
    {
        int number = NewEventFd();
        Assert.True(Poller.Add(number, 100, Interest.Read).Ok);
        Signal(number);
        Assert.True(Poller.Remove(number).Ok);
        int fresh = NewEventFd();
        Assert.Equal(number, dup2(fresh, number));   // `number` is now the new eventfd; the old one is closed
        Sys.Close(fresh);
        _eventFds.Remove(fresh);
        Assert.True(Poller.Add(number, 200, Interest.Read).Ok);
        Signal(number);
        Assert.Equal([200UL], Wait(1000).Select(e => e.Token));
    }

    // 1000 fds, every seventh ready: exactly those come back; with a batch of 16, ten waits (143 ready) plus slack
    // reach them all, so no ready fd is starved behind a full batch.
    [BackendFact]
    public void ManyFds_ExactlyTheReadyOnesAreReported_EvenInSmallBatches()
    {
        var expected = new HashSet<ulong>();
        for (int i = 0; i < 1000; i++)
        {
            int fd = NewEventFd();
            Assert.True(Poller.Add(fd, (ulong)i, Interest.Read).Ok);
            if (i % 7 == 0)
            {
                Signal(fd);
                expected.Add((ulong)i);
            }
        }
        Assert.Equal(expected, Wait(1000).Select(e => e.Token).ToHashSet());
        var seen = new HashSet<ulong>();
        for (int round = 0; round < 20 && seen.Count < expected.Count; round++)
            seen.UnionWith(Wait(1000, batch: 16).Select(e => e.Token));
        Assert.Equal(expected, seen);
    }

    [BackendFact]
    public void BlockedWait_IsWokenByAnotherThread()
    {
        int fd = NewEventFd();
        Assert.True(Poller.Add(fd, 5, Interest.Read).Ok);
        int waiterTid = 0;
        var waiting = Task.Factory.StartNew(() =>
        {
            Volatile.Write(ref waiterTid, gettid());
            return Wait(-1);
        }, TaskCreationOptions.LongRunning);
        // Until the kernel shows the thread asleep in the wait, "not completed" would prove nothing.
        Infrastructure.Wait.Until(() => IsAsleepInAWait(Volatile.Read(ref waiterTid)), "the waiting thread is asleep in its wait");
        Assert.False(waiting.IsCompleted, "the wait returned with nothing ready");
        Signal(fd);
        Assert.True(waiting.Wait(30_000), "the wait was not woken");
        Assert.Equal(5UL, Assert.Single(waiting.Result).Token);
    }

    // The thread is sleeping (state S) inside epoll_wait/epoll_pwait/epoll_pwait2/poll/ppoll: /proc shows the
    // syscall a blocked thread is in.
    private static bool IsAsleepInAWait(int tid)
    {
        if (tid == 0)
            return false;
        try
        {
            string stat = File.ReadAllText($"/proc/self/task/{tid}/stat");
            string syscall = File.ReadAllText($"/proc/self/task/{tid}/syscall");
            char state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state == 'S' && int.TryParse(syscall.Split(' ')[0], out int number) && WaitSyscalls.Contains(number);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static readonly int[] WaitSyscalls = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.Arm64 => [22, 73, 441],          // epoll_pwait, ppoll, epoll_pwait2
        _ => [232, 281, 441, 7, 271],                                                 // epoll_wait, epoll_pwait, epoll_pwait2, poll, ppoll
    };

    [System.Runtime.InteropServices.DllImport("libc.so.6")]
    private static extern int gettid();

    [System.Runtime.InteropServices.DllImport("libc.so.6")]
    private static extern int dup2(int oldFd, int newFd);

    private PollEvent[] Wait(int timeoutMs, int batch = 1024)
    {
        var events = new PollEvent[batch];
        SyscallResult waited = Poller.Wait(events, timeoutMs);
        Assert.True(waited.Ok, $"wait failed: {waited.Error}");
        return events[..(int)waited.Value];
    }

    private int NewEventFd()
    {
        SyscallResult created = Sys.EventFd();
        Assert.True(created.Ok, $"eventfd: {created.Error}");
        _eventFds.Add(created.Fd);
        return created.Fd;
    }

    private static void Signal(int eventFd) => Assert.True(Sys.Write(eventFd, BitConverter.GetBytes(1UL)).Ok);

    private static void Drain(int eventFd) => Assert.True(Sys.Read(eventFd, new byte[8]).Ok);

    private (Socket Local, Socket Peer) NewTcpPair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        Socket peer = Track(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        peer.Connect(listener.LocalEndPoint!);
        return (Track(listener.Accept()), peer);
    }

    private Socket Track(Socket socket)
    {
        _sockets.Add(socket);
        return socket;
    }

    public void Dispose()
    {
        Poller.Dispose();
        _eventFds.ForEach(fd => Sys.Close(fd));
        _sockets.ForEach(s => s.Dispose());
        GC.SuppressFinalize(this);
    }
}

public sealed class EpollPollerContractTests() : PollerContractTests(CreateEpoll())
{
    private static EpollPoller CreateEpoll()
    {
        Assert.True(EpollPoller.Create(1024, out EpollPoller? poller).Ok);
        return poller!;
    }
}

public sealed class PollPollerContractTests() : PollerContractTests(new PollPoller(initialCapacity: 4));

// kqueue: the system's on macOS and FreeBSD; on Linux libkqueue's, when it is installed.
public sealed class KqueuePollerContractTests() : PollerContractTests(CreateKqueue())
{
    public static string? NotRunBecause => PollerTheoryDiscoverer.NotRunBecause("kqueue");

    private protected override bool HangUpNeedsWriteInterest => true;

    private static KqueuePoller CreateKqueue()
    {
        SyscallResult created = KqueuePoller.Create(1024, out KqueuePoller? poller, out string? unavailable);
        Assert.True(created.Ok, unavailable ?? $"kqueue: {created.Error}");
        return poller!;
    }
}
