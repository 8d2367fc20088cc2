// A rude peer for the soak: connect, send a burst, and reset the connection (SO_LINGER 0) without reading the echo,
// again every few milliseconds. The server must drop what it owed this peer, free its fd, and serve everyone else.
namespace EpollServer.LoadTests.Engine;

internal sealed class ResetClient : LoadClient
{
    private static readonly byte[] Burst = Enumerable.Repeat((byte)'r', 16 * 1024).ToArray();
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(5);

    private readonly Action _beginCycle;

    public ResetClient(ClientLoop owner)
        : base(owner)
    {
        _beginCycle = BeginCycle;
    }

    public override bool ConnectsUpFront => false;

    public long Resets { get; private set; }

    public override void Start() => BeginCycle();

    private void BeginCycle()
    {
        if (Owner.Clock.Issuing(Now))
            Connect(Owner.Target);
    }

    protected override void OnConnected()
    {
        Write(Burst);
        NotifyWhenWritable();
    }

    // Sent (or as much as the socket took): reset now, and come back after a pause.
    protected override void OnWritable()
    {
        Resets++;
        CloseWithReset();
        Owner.Loop.Schedule(Pause, _beginCycle);
    }

    protected override void OnReceived(ReadOnlySpan<byte> data)
    {
        // The echo of the burst: ignored on purpose, the reset is coming.
    }

    protected override void OnConnectFailed()
    {
        if (Owner.Clock.Issuing(Now))
            Owner.Loop.Schedule(Pause, _beginCycle);
    }
}
