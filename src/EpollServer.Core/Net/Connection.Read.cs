// The read side of a connection: recv into the input ring, hand it to the handler, notice EOF; the handler's own
// pause of reading (PauseReading/ResumeReading); and the drain of a stopping server.
using EpollServer.Buffers;
using EpollServer.Diagnostics;
using EpollServer.Interop;

namespace EpollServer.Net;

public sealed partial class Connection
{
    // Stops reading until ResumeReading: for a handler whose input waits on something other than this connection's
    // output (a proxy forwarding into an upstream that is full). What is buffered stays, and is offered again then.
    public void PauseReading()
    {
        if (_readStopped)
            return;
        _readStopped = true;
        _context.Counters[Counter.ReadPauses]++;   // backpressure, as much as a full output is
        UpdateInterest();
    }

    // True between PauseReading and ResumeReading: a handler reading several messages out of one batch stops there.
    public bool IsReadingPaused => _readStopped;

    // Reading goes on, and the buffered input is offered to the handler at the end of the current batch (not inside
    // the caller's callback).
    public void ResumeReading()
    {
        if (!_readStopped || IsClosed)
            return;
        _readStopped = false;
        _offerInput = true;
        QueueFlush();
        UpdateInterest();
    }

    private void Receive()
    {
        if (_lingering)
        {
            Discard();
            return;
        }
        if (!_input.HasStorage)
            _input.Attach(_context.InputPool.Rent());
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
            _context.Counters[Counter.BytesReceived] += received.Value;
            OnBytesReceived();
            ProcessInput();
        }
        else if (received.Ok)
        {
            OnInputEnded();
        }
        else if (received.Error.IsWouldBlock)
        {
            _context.Counters[Counter.RecvWouldBlock]++;
            if (_input.IsEmpty)
                ReleaseInput();
        }
        else
        {
            CloseNow(ReasonFor(received.Error));
        }
    }

    // Offers the buffered input to the handler once; called after a read and again when output space frees up.
    internal void ProcessInput()
    {
        ReadableBytes data = _input.Readable;
        if (data.IsEmpty || _closeRequested)
            return;
        int consumed;
        try
        {
            consumed = Handler.OnData(this, data);
        }
        catch (Exception e)
        {
            HandlerFailed(e);
            return;
        }
        if (IsClosed)
            return;
        if ((uint)consumed > (uint)data.Length)
        {
            HandlerFailed(new InvalidOperationException($"OnData consumed {consumed} of {data.Length} bytes"));
            return;
        }
        _input.Consume(consumed);
        if (consumed > 0)
            OnRequestsCompleted();
        if (_input.IsEmpty)
            ReleaseInput();
        else if (_input.Free == 0 && _output.Count < _context.HighWatermark && !_readStopped)
        {
            // A full input ring that the handler will not take while its output has room, and that it did not say it
            // is holding back (PauseReading), can never make progress.
            _context.LogStall(this);
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
        // Input still waiting (for this output to drain, or for what the handler paused reading for) comes first.
        if (!_input.IsEmpty && (!_output.IsEmpty || _readStopped))
        {
            UpdateInterest();
            return;
        }
        ReadableBytes remaining = _input.Readable;
        try
        {
            Handler.OnInputEnded(this, remaining);
        }
        catch (Exception e)
        {
            HandlerFailed(e);
            return;
        }
        if (IsClosed)
            return;
        _input.Consume(remaining.Length);
        ReleaseInput();
        if (Handler.KeepsOutputOpenAfterInputEnds)
        {
            // Half-open: the handler still writes (a proxy passing the other direction on) and ends it with
            // ShutdownOutput or Close; if it already has, both directions are done.
            if (_outputShut)
                CloseNow(CloseReason.PeerClosed);
            else
                UpdateInterest();
            return;
        }
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
        Span<byte> sink = _context.DiscardBuffer;
        SyscallResult received = Sys.Recv(Fd, sink);
        if (received.Ok && received.Value > 0)
            _context.Counters[Counter.BytesDiscarded] += received.Value;
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
