// One client connection of the generator: a non-blocking socket connected through the loop (EINPROGRESS, then
// writability and SO_ERROR), an output buffer flushed with one send per batch, and input handed to the subclass.
using System.Net;
using EpollServer.Interop;
using EpollServer.Net;
using EpollServer.Reactor;

namespace EpollServer.LoadTests.Engine;

internal abstract class LoadClient : IPollable
{
    private byte[] _output;
    private int _outputStart;
    private int _outputEnd;
    private int _fd = -1;
    private ulong _token;
    private bool _wantsWrite;
    private bool _connecting;
    private bool _registered;
    private bool _countedReady;

    protected LoadClient(ClientLoop owner, int outputCapacity)
    {
        Owner = owner;
        _output = new byte[Math.Max(outputCapacity, 16)];
    }

    protected ClientLoop Owner { get; }

    protected LoadStats Stats => Owner.Stats;

    protected long Now => Owner.Loop.Now;

    public bool IsOpen => _fd >= 0 && !_connecting;

    public bool IsConnecting => _connecting;

    // Room for `length` more bytes once what was sent is compacted away.
    protected bool HasRoomFor(int length) => _output.Length - OutputPending >= length;

    // Clients that open their connection in the connect phase, before the clock starts (all but churn).
    public virtual bool ConnectsUpFront => true;

    // Ready to be measured: connected, and for chat also welcomed (so it is in the room before messages flow).
    public virtual bool Ready => IsOpen;

    // Called on the loop thread when the clock starts (or at this client's ramp-up slot).
    public virtual void Start()
    {
    }

    // Replies still owed to this client; at the drain deadline they count as Unanswered.
    public virtual long Owed => 0;

    protected int OutputPending => _outputEnd - _outputStart;

    // Starts a non-blocking connect; false (and a ConnectFailed error) when the socket could not even be started.
    public bool Connect(IPEndPoint server)
    {
        uint length = SocketAddresses.Write(server, out Libc.sockaddr_storage address, out int family);
        SyscallResult socket = Sys.Socket(family, Libc.SOCK_STREAM);
        if (!socket.Ok)
            return FailConnect(socket.Error);
        _fd = socket.Fd;
        Sys.SetSockOpt(_fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, 1);
        SyscallResult connected = Sys.Connect(_fd, address, length);
        _connecting = !connected.Ok;
        if (!connected.Ok && connected.Error != Errno.EINPROGRESS)
            return FailConnect(connected.Error);
        SyscallResult registered = Owner.Loop.Register(this, _fd, _connecting ? Interest.Write : Interest.Read, out _token);
        if (!registered.Ok)
            return FailConnect(registered.Error);
        _registered = true;
        _wantsWrite = _connecting;
        if (!_connecting)
            Opened();
        return true;
    }

    private bool FailConnect(Errno error)
    {
        LastError = error;
        Stats.RecordError(LoadError.ConnectFailed, Now);
        CloseSocket();
        OnConnectFailed();
        return false;
    }

    public Errno LastError { get; private set; }

    public void OnPollEvent(PollEvents events)
    {
        if (_connecting)
        {
            FinishConnect();
            return;
        }
        if ((events & PollEvents.Readable) != 0)
            ReadOnce();
        if (_fd >= 0 && (events & PollEvents.Writable) != 0)
            Flush();
    }

    public void OnDispatchFailed(Exception error) => Fail(LoadError.Reset);

    private void FinishConnect()
    {
        SyscallResult error = Sys.GetSockOpt(_fd, Libc.SOL_SOCKET, Libc.SO_ERROR);
        if (!error.Ok || error.Value != 0)
        {
            FailConnect(error.Ok ? new Errno((int)error.Value) : error.Error);
            return;
        }
        _connecting = false;
        SetWriteInterest(OutputPending > 0);
        Opened();
    }

    private void Opened()
    {
        Stats.ConnectionsOpened++;
        if (Ready)
            MarkReady();
        OnConnected();
        Flush();
    }

    // One recv per readiness event: level-triggered epoll reports the socket again if more is waiting.
    private void ReadOnce()
    {
        byte[] buffer = Owner.ReceiveBuffer;
        SyscallResult received = Sys.Recv(_fd, buffer);
        if (!received.Ok)
        {
            if (received.Error == Errno.EAGAIN)
                return;
            LastError = received.Error;
            Fail(LoadError.Reset);
            return;
        }
        if (received.Value == 0)
        {
            OnEndOfStream();
            return;
        }
        Stats.BytesReceived += received.Value;
        OnReceived(buffer.AsSpan(0, (int)received.Value));
        if (_fd >= 0)
            Flush();
    }

    // Room for `length` more bytes at the end of the output buffer. Clients issue a request only when HasRoomFor
    // says it fits, so the buffer grows only if one asks for more than its whole capacity.
    protected Span<byte> Reserve(int length)
    {
        if (_output.Length - _outputEnd < length && _outputStart > 0)
        {
            _output.AsSpan(_outputStart, OutputPending).CopyTo(_output);
            _outputEnd -= _outputStart;
            _outputStart = 0;
        }
        if (_output.Length - _outputEnd < length)
            Array.Resize(ref _output, Math.Max(_output.Length * 2, _outputEnd + length));
        Span<byte> space = _output.AsSpan(_outputEnd, length);
        _outputEnd += length;
        return space;
    }

    protected void Flush()
    {
        if (_fd < 0 || _connecting)
            return;
        while (OutputPending > 0)
        {
            SyscallResult sent = Sys.Send(_fd, _output.AsSpan(_outputStart, OutputPending));
            if (!sent.Ok)
            {
                if (sent.Error == Errno.EAGAIN)
                    break;
                LastError = sent.Error;
                Fail(LoadError.Reset);
                return;
            }
            Stats.BytesSent += sent.Value;
            _outputStart += (int)sent.Value;
        }
        if (OutputPending == 0)
        {
            _outputStart = 0;
            _outputEnd = 0;
            OnOutputDrained();
        }
        SetWriteInterest(OutputPending > 0);
    }

    private void SetWriteInterest(bool wanted)
    {
        if (wanted == _wantsWrite || _fd < 0)
            return;
        _wantsWrite = wanted;
        Owner.Loop.Modify(_token, _fd, wanted ? Interest.Read | Interest.Write : Interest.Read);
    }

    // Counts the error, closes, and lets the subclass account for what it was still owed.
    protected void Fail(LoadError kind)
    {
        Stats.RecordError(kind, Now);
        Close();
    }

    // Closes with RST (SO_LINGER 0), abandoning whatever the server is still sending: a rude peer.
    protected void CloseWithReset()
    {
        if (_fd >= 0)
            Sys.SetLingerZero(_fd);
        Close();
    }

    public void Close()
    {
        if (_fd < 0)
            return;
        bool wasOpen = !_connecting;
        CloseSocket();
        if (wasOpen)
            Stats.ConnectionsClosed++;
        OnClosed();
    }

    private void CloseSocket()
    {
        if (_fd < 0)
            return;
        if (_registered)
            Owner.Loop.Unregister(_token, _fd);
        _registered = false;
        Sys.Close(_fd);
        _fd = -1;
        _connecting = false;
        _wantsWrite = false;
        _outputStart = 0;
        _outputEnd = 0;
    }

    // Counts this client once in its loop's ReadyClients (what the connect phase waits for).
    protected void MarkReady()
    {
        if (_countedReady)
            return;
        _countedReady = true;
        Owner.ReadyClients++;
    }

    protected virtual void OnConnected()
    {
    }

    protected virtual void OnConnectFailed()
    {
    }

    protected abstract void OnReceived(ReadOnlySpan<byte> data);

    protected virtual void OnOutputDrained()
    {
    }

    // The server closed its side. What was still owed decides whether that is an error.
    protected virtual void OnEndOfStream() => Close();

    protected virtual void OnClosed()
    {
    }
}
