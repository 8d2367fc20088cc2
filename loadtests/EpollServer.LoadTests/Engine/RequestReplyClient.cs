// A client of the request/reply protocols (echo, line, reverse). Each request's intended send time waits in a ring
// until its reply has arrived in full and matched byte for byte; then the latency is recorded from that time.
// Closed model: `depth` requests in flight, each reply issues the next. Open model: the pacer calls Issue.
namespace EpollServer.LoadTests.Engine;

internal sealed class RequestReplyClient : LoadClient
{
    private readonly MessageFormat _format;
    private readonly int _depth;
    private readonly long[] _intended;   // ring of intended send times, indexed by sequence number
    private readonly int _mask;
    private readonly byte[] _expected;
    private readonly byte[] _request;    // scratch: one request is formatted here, then written
    private long _head;      // oldest request whose reply is still owed
    private long _written;   // next request to put in the output buffer
    private long _tail;      // next sequence number to issue
    private int _matched;    // bytes of the head's reply already compared
    private bool _started;

    public RequestReplyClient(ClientLoop owner, MessageFormat format, int depth, int maxOutstanding, System.Net.IPEndPoint? target = null)
        : base(owner)
    {
        Target = target;
        _format = format;
        _depth = depth;
        int capacity = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, maxOutstanding));
        _intended = new long[capacity];
        _mask = capacity - 1;
        _expected = new byte[format.Size];
        _request = new byte[format.Size];
    }

    public override System.Net.IPEndPoint? Target { get; }

    public override long Owed => _tail - _head;

    public long Replies => _head;

    // Closed model: starts the `depth` requests this client keeps in flight (at once, or when its ramp-up slot comes).
    public override void Start()
    {
        if (_depth == 0)
            return;   // open model: the pacer issues
        _started = true;
        for (int i = 0; i < _depth && Owner.Clock.Issuing(Now); i++)
            Issue(Now);
    }

    // Queues one request meant to leave at `intended`; false when the ring is full (the server is far behind).
    public bool Issue(long intended)
    {
        if (_tail - _head >= _intended.Length)
        {
            Stats.RecordError(LoadError.Overflow, Now);
            return false;
        }
        _intended[_tail & _mask] = intended;
        _tail++;
        Stats.Outstanding++;
        WritePending();
        return true;
    }

    // Writes the issued requests the output has room for; the rest follow when it has drained (OnWritable).
    private void WritePending()
    {
        while (_written < _tail && CanWrite(_format.Size))
        {
            _format.WriteRequest(_written, _request);
            Write(_request);
            _written++;
        }
        if (_written < _tail && IsOpen)
            NotifyWhenWritable();
    }

    protected override void OnWritable() => WritePending();

    protected override void OnReceived(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_head == _written)
            {
                Fail(LoadError.Mismatch);   // bytes nobody asked for
                return;
            }
            if (_matched == 0)
                _format.WriteExpected(_head, _expected);
            int take = Math.Min(_format.Size - _matched, data.Length);
            if (!data[..take].SequenceEqual(_expected.AsSpan(_matched, take)))
            {
                Fail(LoadError.Mismatch);
                return;
            }
            _matched += take;
            data = data[take..];
            if (_matched == _format.Size)
                Complete();
        }
    }

    private void Complete()
    {
        Stats.RecordReply(_intended[_head & _mask], Now);
        _head++;
        _matched = 0;
        Stats.Outstanding--;
        if (_depth > 0 && _started && Owner.Clock.Issuing(Now))
            Issue(Now);
    }

    // What was owed to a connection that failed is no longer outstanding (the failure itself was counted once).
    protected override void OnClosed()
    {
        Stats.Outstanding -= _tail - _head;
        _head = _tail = _written = 0;
        _matched = 0;
    }
}
