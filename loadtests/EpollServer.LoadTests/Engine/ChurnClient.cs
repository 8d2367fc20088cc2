// Connect/close churn: connect, one small echo round trip (proof the server accepted and served it), close, and
// again, until the window closes. Latency is the whole cycle; throughput is cycles per second.
namespace EpollServer.LoadTests.Engine;

internal sealed class ChurnClient : LoadClient
{
    private static readonly byte[] Probe = "x\n"u8.ToArray();

    private long _began;
    private int _matched;
    private bool _inCycle;

    public ChurnClient(ClientLoop owner, System.Net.IPEndPoint? target = null)
        : base(owner)
    {
        Target = target;
    }

    public override System.Net.IPEndPoint? Target { get; }

    public override bool ConnectsUpFront => false;

    public override long Owed => _inCycle ? 1 : 0;

    public long Cycles { get; private set; }

    public override void Start() => BeginCycle();

    private void BeginCycle()
    {
        if (!Owner.Clock.Issuing(Owner.Loop.Now))
            return;
        _began = Now;
        _matched = 0;
        _inCycle = true;
        Stats.Outstanding++;
        Connect(Target ?? Owner.Target);
    }

    protected override void OnConnected() => Write(Probe);

    protected override void OnReceived(ReadOnlySpan<byte> data)
    {
        if (data.Length > Probe.Length - _matched || !data.SequenceEqual(Probe.AsSpan(_matched, data.Length)))
        {
            Fail(LoadError.Mismatch);
            return;
        }
        _matched += data.Length;
        if (_matched < Probe.Length)
            return;
        EndCycle();
        Stats.RecordReply(_began, Now);
        Cycles++;
        Close();
        BeginCycle();
    }

    private void EndCycle()
    {
        if (!_inCycle)
            return;
        _inCycle = false;
        Stats.Outstanding--;
    }

    protected override void OnEndOfStream() => Fail(LoadError.ClosedByServer);

    // A failed connect (ports exhausted, backlog full) is counted; the slot tries again a millisecond later.
    protected override void OnConnectFailed()
    {
        EndCycle();
        if (Owner.Clock.Issuing(Now))
            Owner.Loop.Schedule(TimeSpan.FromMilliseconds(1), BeginCycle);
    }

    protected override void OnClosed() => EndCycle();
}
