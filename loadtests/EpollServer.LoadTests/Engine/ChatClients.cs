// Chat fan-out: one sender, N receivers in the same room. The sender's lines carry their sequence number and
// intended send time ("m SEQ TIME pad"), so each receiver measures delivery latency from the line itself and checks
// it got every message exactly once and in order. All of them live on one loop, which keeps the delivery counts
// without sharing anything between threads.
using System.Buffers.Text;

namespace EpollServer.LoadTests.Engine;

// Counts deliveries per message; a message is done when every receiver has it. The closed model lets the sender
// run at most `window` messages ahead of the slowest receiver.
internal sealed class ChatFanout
{
    private readonly int[] _delivered;
    private readonly int _mask;

    public ChatFanout(int receivers, int window)
    {
        Receivers = receivers;
        Window = window;
        int capacity = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(window, 1024));
        _delivered = new int[capacity];
        _mask = capacity - 1;
    }

    public int Receivers { get; }

    public int Window { get; }

    public int Capacity => _delivered.Length;

    public long FullyDelivered { get; private set; }   // every message before this one reached every receiver

    public ChatSender? Sender { get; set; }

    public void Delivered(long sequence)
    {
        _delivered[sequence & _mask]++;
        Sender?.OneDelivered();
        while (_delivered[FullyDelivered & _mask] == Receivers && FullyDelivered < (Sender?.Sent ?? 0))
        {
            _delivered[FullyDelivered & _mask] = 0;
            FullyDelivered++;
        }
        Sender?.WindowMoved();
    }
}

internal sealed class ChatSender : LoadClient
{
    public const int MinimumSize = 37;   // "m " + 16 hex + " " + 16 hex + "\n"

    private readonly ChatFanout _fanout;
    private readonly int _size;
    private readonly bool _paced;
    private readonly byte[] _line;   // scratch: one message is formatted here, then written
    private bool _welcomed;
    private bool _started;

    private long _owed;   // deliveries still owed to the receivers, counted by the fan-out

    public ChatSender(ClientLoop owner, ChatFanout fanout, int size, bool paced, System.Net.IPEndPoint? target = null)
        : base(owner)
    {
        Target = target;
        _fanout = fanout;
        _size = Math.Max(size, MinimumSize);
        _line = new byte[_size];
        _paced = paced;
        fanout.Sender = this;
    }

    public long Sent { get; private set; }

    public override bool Ready => IsOpen && _welcomed;

    public override System.Net.IPEndPoint? Target { get; }

    // Deliveries still owed to all receivers; counted once, here (the loop may carry other clients: the soak).
    public override long Owed => Math.Max(0, _owed);

    public void OneDelivered() => _owed--;

    public override void Start()
    {
        _started = true;
        WindowMoved();
    }

    // Closed model: send while the window allows.
    public void WindowMoved()
    {
        if (!_started || _paced || !IsOpen)
            return;
        while (Sent - _fanout.FullyDelivered < _fanout.Window && Owner.Clock.Issuing(Now) && CanWrite(_size))
            WriteMessage(Now);
        if (Sent - _fanout.FullyDelivered < _fanout.Window && Owner.Clock.Issuing(Now))
            NotifyWhenWritable();   // the window allows more than the output takes now
    }

    protected override void OnWritable() => WindowMoved();

    // Open model: the pacer's request.
    public bool Send(long intended)
    {
        if (Sent - _fanout.FullyDelivered >= _fanout.Capacity)
        {
            Stats.RecordError(LoadError.Overflow, Now);
            return false;
        }
        if (!CanWrite(_size))
        {
            Stats.RecordError(LoadError.Overflow, Now);
            return false;
        }
        WriteMessage(intended);
        return true;
    }

    private void WriteMessage(long intended)
    {
        Span<byte> line = _line;
        line.Fill((byte)'.');
        line[0] = (byte)'m';
        line[1] = (byte)' ';
        Utf8Formatter.TryFormat((ulong)Sent, line.Slice(2, 16), out _, new System.Buffers.StandardFormat('x', 16));
        line[18] = (byte)' ';
        Utf8Formatter.TryFormat((ulong)intended, line.Slice(19, 16), out _, new System.Buffers.StandardFormat('x', 16));
        line[35] = (byte)' ';
        line[^1] = (byte)'\n';
        Write(line);
        Sent++;
        Stats.Outstanding += _fanout.Receivers;
        _owed += _fanout.Receivers;
    }

    // The sender sees its own welcome and the others' notices; it is never sent its own messages.
    protected override void OnReceived(ReadOnlySpan<byte> data)
    {
        if (!_welcomed && data.IndexOf("* welcome"u8) >= 0)
        {
            _welcomed = true;
            MarkReady();
        }
    }
}

internal sealed class ChatReceiver : LoadClient
{
    private readonly ChatFanout _fanout;
    private readonly byte[] _line = new byte[4096];
    private int _length;
    private long _next;          // the sequence number this receiver expects next
    private bool _welcomed;

    public ChatReceiver(ClientLoop owner, ChatFanout fanout, System.Net.IPEndPoint? target = null)
        : base(owner)
    {
        _fanout = fanout;
        Target = target;
    }

    public override System.Net.IPEndPoint? Target { get; }

    public override bool Ready => IsOpen && _welcomed;

    protected override void OnReceived(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int take = Math.Min(data.Length, _line.Length - _length);
            if (take == 0)
            {
                Fail(LoadError.Mismatch);   // a line longer than any this scenario sends
                return;
            }
            data[..take].CopyTo(_line.AsSpan(_length));
            _length += take;
            data = data[take..];
            if (!ConsumeLines())
                return;
        }
    }

    private bool ConsumeLines()
    {
        int start = 0;
        while (true)
        {
            int newline = _line.AsSpan(start, _length - start).IndexOf((byte)'\n');
            if (newline < 0)
                break;
            if (!OnLine(_line.AsSpan(start, newline)))
                return false;
            start += newline + 1;
        }
        _line.AsSpan(start, _length - start).CopyTo(_line);
        _length -= start;
        return true;
    }

    private bool OnLine(ReadOnlySpan<byte> line)
    {
        if (line.StartsWith("*"u8))
        {
            // Server notices (welcome, joins, leaves): the welcome means this receiver is in the room.
            if (!_welcomed && line.StartsWith("* welcome"u8))
            {
                _welcomed = true;
                MarkReady();
            }
            return true;
        }
        int body = line.IndexOf("> m "u8);
        if (body < 0 || line.Length < body + 2 + ChatSender.MinimumSize - 1
            || !Utf8Parser.TryParse(line.Slice(body + 4, 16), out ulong sequence, out _, 'x')
            || !Utf8Parser.TryParse(line.Slice(body + 21, 16), out ulong intended, out _, 'x')
            || (long)sequence != _next)
        {
            Fail(LoadError.Mismatch);
            return false;
        }
        _next++;
        Stats.Outstanding--;
        Stats.RecordReply((long)intended, Now);
        _fanout.Delivered((long)sequence);
        return true;
    }

    protected override void OnEndOfStream() => Fail(LoadError.ClosedByServer);
}
