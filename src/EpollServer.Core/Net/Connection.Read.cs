// The read side of a connection: recv into the input ring, hand it to the protocol, notice EOF.
using EpollServer.Buffers;
using EpollServer.Interop;

namespace EpollServer.Net;

public sealed partial class Connection
{
    private void Receive()
    {
        if (_lingering)
        {
            Discard();
            return;
        }
        if (!_input.HasStorage)
            _input.Attach(_server.InputPool.Rent());
        if (_input.Free == 0)
        {
            // Never recv into zero bytes: that returns 0, which reads as the peer's FIN. Offer the input again;
            // if it stays full the output is above the high watermark and reading pauses.
            ProcessInput();
            if (IsClosed || _input.Free == 0)
                return;
        }
        Span<byte> first = _input.WritableFirst;
        Span<byte> second = _input.WritableSecond;
        // One syscall per readable event, as Redis does: level-triggered epoll reports the rest on the next wait,
        // and skipping the recv that would only say EAGAIN halves the syscalls of a small request.
        SyscallResult received = second.IsEmpty ? Sys.Recv(Fd, first) : Sys.ReadV(Fd, first, second);
        if (received.Ok && received.Value > 0)
        {
            _input.Commit((int)received.Value);
            _server.Counters.BytesReceived += received.Value;
            OnBytesReceived();
            ProcessInput();
        }
        else if (received.Ok)
        {
            OnInputEnded();
        }
        else if (received.Error.IsWouldBlock)
        {
            _server.Counters.RecvWouldBlock++;
            if (_input.IsEmpty)
                ReleaseInput();
        }
        else
        {
            CloseNow(ReasonFor(received.Error));
        }
    }

    // Offers the buffered input to the protocol once; called after a read and again when output space frees up.
    internal void ProcessInput()
    {
        ReadableBytes data = _input.Readable;
        if (data.IsEmpty || _closeRequested)
            return;
        int consumed;
        try
        {
            consumed = _server.Handler.OnData(this, data);
        }
        catch (Exception e)
        {
            _server.LogHandlerError(this, e);
            CloseNow(CloseReason.HandlerError);
            return;
        }
        if (IsClosed)
            return;
        if ((uint)consumed > (uint)data.Length)
        {
            _server.LogHandlerError(this, new InvalidOperationException($"OnData consumed {consumed} of {data.Length} bytes"));
            CloseNow(CloseReason.HandlerError);
            return;
        }
        _input.Consume(consumed);
        if (consumed > 0)
            OnRequestsCompleted();
        if (_input.IsEmpty)
            ReleaseInput();
        else if (_input.Free == 0 && _output.Count < _server.HighWatermark)
        {
            // A full input ring that the protocol will not take while its output has room can never make progress.
            _server.LogStall(this);
            CloseNow(CloseReason.HandlerError);
            return;
        }
        UpdateBackpressure();
        if (_draining)
            ContinueDrain();
    }

    // The peer's FIN. Input still buffered (waiting for output space) is served first; the handler hears of the
    // end only once that is done, so nothing the peer sent before its FIN is lost.
    private void OnInputEnded()
    {
        _inputEnded = true;
        ProcessInput();
        if (!IsClosed)
            TryDeliverEnd();
    }

    private void TryDeliverEnd()
    {
        if (_closeRequested)
            return;
        if (!_input.IsEmpty && !_output.IsEmpty)
        {
            UpdateInterest();
            return;
        }
        ReadableBytes remaining = _input.Readable;
        try
        {
            _server.Handler.OnInputEnded(this, remaining);
        }
        catch (Exception e)
        {
            _server.LogHandlerError(this, e);
            CloseNow(CloseReason.HandlerError);
            return;
        }
        if (IsClosed)
            return;
        _input.Consume(remaining.Length);
        ReleaseInput();
        // The peer will send nothing more. Nothing owed: close now (no epoll_ctl MOD right before the DEL).
        // Otherwise deliver what is owed first; Flush closes when it is out.
        if (_output.IsEmpty)
        {
            CloseNow(CloseReason.PeerClosed);
            return;
        }
        _closeRequested = true;
        QueueFlush();
        UpdateInterest();
    }

    // Lingering close: our FIN is out; read whatever the peer still sends and drop it until its FIN arrives.
    private void Discard()
    {
        Span<byte> sink = _server.DiscardBuffer;
        SyscallResult received = Sys.Recv(Fd, sink);
        if (received.Ok && received.Value > 0)
            _server.Counters.BytesDiscarded += received.Value;
        else if (received.Ok)
            CloseNow(CloseReason.Closed);
        else if (!received.Error.IsWouldBlock)
            CloseNow(ReasonFor(received.Error));
    }

    // Server shutdown: what has already arrived is read (one read, unless reading is paused) and everything read is
    // served: input waiting for output space is offered again as the peer reads, and a request begun is read to its
    // end. Then the connection closes the way Close() does. The server's drain deadline bounds all of it.
    internal void BeginDrain()
    {
        if (IsClosed || _draining)
            return;
        bool reading = WantsRead;
        _draining = true;
        if (reading)
            Receive();
        if (!IsClosed)
            ContinueDrain();
    }

    // Closes once nothing read is left to serve; until then reading stays on only for the rest of a begun request.
    private void ContinueDrain()
    {
        if (IsClosing)
            return;
        if (_input.IsEmpty)
            Close();
        else
            UpdateInterest();
    }
}
