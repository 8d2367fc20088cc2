// One client connection of the generator, as a handler on the same stream the server uses: connected through its
// loop's context (LoopContext.Connect), written into the connection's output ring (sent at the end of the batch),
// read from its input ring. Subclasses say what to send and check what comes back; the socket is the Connection's.
using EpollServer.Buffers;
using EpollServer.Net;
using EpollServer.Protocols;

namespace EpollServer.LoadTests.Engine;

internal abstract class LoadClient : IProtocolHandler
{
    private Connection? _connection;
    private bool _open;
    private bool _closing;        // this client asked for the close: it is not an error
    private bool _countedReady;

    protected LoadClient(ClientLoop owner) => Owner = owner;

    public string Name => "load-client";

    protected ClientLoop Owner { get; }

    protected LoadStats Stats => Owner.Stats;

    protected long Now => Owner.Loop.Now;

    public bool IsOpen => _open;

    // Clients that open their connection in the connect phase, before the clock starts (all but churn).
    public virtual bool ConnectsUpFront => true;

    // Where this client connects when not its loop's target (chat receivers on another daemon).
    public virtual System.Net.IPEndPoint? Target => null;

    // Ready to be measured: connected, and for chat also welcomed (so it is in the room before messages flow).
    public virtual bool Ready => IsOpen;

    // Called on the loop thread when the clock starts (or at this client's ramp-up slot).
    public virtual void Start()
    {
    }

    // Replies still owed to this client; at the drain deadline they count as Unanswered.
    public virtual long Owed => 0;

    public void Connect(System.Net.IPEndPoint server)
    {
        _closing = false;
        _connection = Owner.Context.Connect(server, this);
    }

    // Room for `length` more bytes while staying under the output's high watermark: a generator that filled its own
    // output would stop reading replies (the same backpressure the server applies), and with a server that stopped
    // reading for the same reason, neither would move again.
    protected bool CanWrite(int length) => _connection is { IsClosing: false } c && c.PendingOutput + length < Owner.Context.HighWatermark;

    // Appends to the output; it leaves at the end of this batch, several writes in one send.
    protected void Write(ReadOnlySpan<byte> data) => _connection?.Write(data);

    // OnWritable once the output has drained to its low watermark.
    protected void NotifyWhenWritable() => _connection?.NotifyWhenWritable();

    // Counts the error and closes at once: what is still owed is abandoned.
    protected void Fail(LoadError kind)
    {
        Stats.RecordError(kind, Now);
        CloseNow();
    }

    // A graceful close: what was written is sent, then the FIN.
    public void Close()
    {
        _closing = true;
        _connection?.Close();
    }

    // Closes at once, without the lingering close (the end of a run, a failed check).
    public void CloseNow()
    {
        _closing = true;
        _connection?.CloseNow(CloseReason.Closed);
    }

    // Closes with RST (SO_LINGER 0), abandoning whatever the server is still sending: a rude peer.
    protected void CloseWithReset()
    {
        _closing = true;
        _connection?.Abort("load-reset");
    }

    // Counts this client once in its loop's ReadyClients (what the connect phase waits for).
    protected void MarkReady()
    {
        if (_countedReady)
            return;
        _countedReady = true;
        Owner.ReadyClients++;
    }

    void IProtocolHandler.OnOpen(Connection connection)
    {
        if (connection != _connection)
            return;
        _open = true;
        Stats.ConnectionsOpened++;
        if (Ready)
            MarkReady();
        OnConnected();
    }

    // Everything that arrived is the subclass's: it consumes all of it.
    int IProtocolHandler.OnData(Connection connection, ReadableBytes data)
    {
        if (connection != _connection)
            return data.Length;
        OnReceived(data.First);
        if (!data.Second.IsEmpty && _open)
            OnReceived(data.Second);
        return data.Length;
    }

    void IProtocolHandler.OnInputEnded(Connection connection, ReadableBytes remaining)
    {
        if (connection == _connection)
            OnEndOfStream();
    }

    void IProtocolHandler.OnWritable(Connection connection)
    {
        if (connection == _connection)
            OnWritable();
    }

    // Once per connection. A close this client did not ask for is an error: the connect failed, or the server reset.
    void IProtocolHandler.OnClose(Connection connection)
    {
        if (connection != _connection)
            return;   // an earlier connection of this client (churn), closed while the next one was opening
        bool wasOpen = _open;
        _open = false;
        _connection = null;
        if (!wasOpen)
        {
            Stats.RecordError(LoadError.ConnectFailed, Now);
            OnConnectFailed();
            return;
        }
        Stats.ConnectionsClosed++;
        if (!_closing && connection.ClosedBecause is CloseReason.Reset or CloseReason.Error or CloseReason.Aborted)
            Stats.RecordError(LoadError.Reset, Now);
        OnClosed();
    }

    protected virtual void OnConnected()
    {
    }

    protected virtual void OnConnectFailed()
    {
    }

    protected abstract void OnReceived(ReadOnlySpan<byte> data);

    protected virtual void OnWritable()
    {
    }

    // The server closed its side. What was still owed decides whether that is an error.
    protected virtual void OnEndOfStream()
    {
        if (Owed > 0)
            Fail(LoadError.ClosedByServer);
        else
            Close();
    }

    protected virtual void OnClosed()
    {
    }
}
