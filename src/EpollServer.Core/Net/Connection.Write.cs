// The write side of a connection: append to the output ring, send at the end of the batch, arm EPOLLOUT only for
// a remainder, apply backpressure to the read side, and the two ways of ending the output (Close, ShutdownOutput).
using EpollServer.Buffers;
using EpollServer.Diagnostics;
using EpollServer.Interop;

namespace EpollServer.Net;

public sealed partial class Connection
{
    // Appends all of data to the output, or nothing when it does not fit (false). Bytes leave at the end of the
    // current batch, so several writes in one callback go out in one send. A connection still connecting buffers
    // what it is given until it is connected.
    public bool Write(ReadOnlySpan<byte> data)
    {
        if (data.Length > OutputSpace)
            return false;
        if (data.IsEmpty)
            return true;
        if (!_output.HasStorage)
            _output.Attach(_context.OutputPool.Rent());
        _output.TryWrite(data);
        QueueFlush();
        return true;
    }

    public bool Write(ReadableBytes data)
    {
        if (data.Length > OutputSpace)
            return false;
        return Write(data.First) && Write(data.Second);
    }

    // The handler's OnWritable is called once, when the output has drained to the low watermark: for a handler that
    // holds something back for lack of OutputSpace (a proxy pausing the other side's reads until there is room).
    public void NotifyWhenWritable()
    {
        _wantsWritable = true;
        QueueFlush();
    }

    // Ends the output and only the output: what is owed is sent, then our FIN; reading goes on (a half-close, as a
    // proxy passes a peer's FIN on). Once the peer's FIN has come too, the connection closes.
    public void ShutdownOutput()
    {
        if (IsClosing || _shutdownRequested)
            return;
        _shutdownRequested = true;
        QueueFlush();
    }

    private void QueueFlush()
    {
        if (_queuedForFlush || IsClosed)
            return;
        _queuedForFlush = true;
        _context.QueueFlush(this);
    }

    // Called by the context after each batch and by OnPollEvent when the socket is writable again.
    internal void Flush()
    {
        _queuedForFlush = false;
        if (IsClosed || Establishing)
            return;
        if (!_output.IsEmpty && !Send())
            return;
        if (_output.IsEmpty)
            ReleaseOutput();
        _writeArmed = !_output.IsEmpty;
        // Input that waited for output space gets its turn once the output is below the low watermark (or when the
        // handler resumed reading); what it writes re-queues this connection, so it is sent in this same pass.
        if (!_input.IsEmpty && (_output.Count <= _context.LowWatermark || _offerInput))
        {
            _offerInput = false;
            ProcessInput();
            if (IsClosed)
                return;
        }
        if (_inputEnded)
        {
            TryDeliverEnd();
            if (IsClosed)
                return;
        }
        if (_output.IsEmpty && (_closeRequested || _shutdownRequested) && !_outputShut)
        {
            EndOutput();
            if (IsClosed)
                return;
        }
        UpdateBackpressure();
        NotifyIfWritable();
    }

    private void NotifyIfWritable()
    {
        if (!_wantsWritable || IsClosed || _output.Count > _context.LowWatermark)
            return;
        _wantsWritable = false;
        try
        {
            Handler.OnWritable(this);
        }
        catch (Exception e)
        {
            HandlerFailed(e);
        }
    }

    // For fan-out (chat): one batch of input can produce more output for a reader than its ring holds before the
    // end-of-batch flush. When `needed` bytes do not fit, what is buffered is sent now, and true says they fit then.
    // A send error is left for that flush to act on (the error repeats), so no close runs inside the caller's loop.
    public bool EnsureOutputSpace(int needed)
    {
        if (OutputSpace >= needed)
            return true;
        if (IsClosing || _output.IsEmpty || Establishing)
            return false;
        SyscallResult sent = SendPending();
        if (!sent.Ok && !sent.Error.IsWouldBlock)
            _sendError = sent.Error;
        return OutputSpace >= needed;
    }

    // One send (or sendmsg for a wrapped ring); false when the connection was closed by the error it returned.
    private bool Send()
    {
        SyscallResult sent = SendPending();
        if (sent.Ok || sent.Error.IsWouldBlock)
            return true;
        CloseNow(ReasonFor(sent.Error));
        return false;
    }

    private SyscallResult SendPending()
    {
        ReadableBytes pending = _output.Readable;
        SyscallResult sent = pending.IsSingleSegment ? Sys.Send(Fd, pending.First) : Sys.SendV(Fd, pending.First, pending.Second);
        if (sent.Ok)
        {
            _output.Consume((int)sent.Value);
            _context.Counters[Counter.BytesSent] += sent.Value;
            OnBytesMoved();
        }
        else if (sent.Error.IsWouldBlock)
        {
            _context.Counters[Counter.SendWouldBlock]++;
        }
        return sent;
    }

    private void UpdateBackpressure()
    {
        if (!_readPaused && _output.Count >= _context.HighWatermark)
        {
            _readPaused = true;
            _context.Counters[Counter.ReadPauses]++;
        }
        else if (_readPaused && _output.Count <= _context.LowWatermark)
        {
            _readPaused = false;
        }
        UpdateRequestTimeout();
        UpdateInterest();
    }

    // Everything owed is out: our FIN. After Close() the connection then lingers for the peer's FIN (or the linger
    // timeout); after ShutdownOutput() it reads on, and closes once the peer's FIN has come too.
    private void EndOutput()
    {
        if (_inputEnded)
        {
            CloseNow(CloseReason.PeerClosed);
            return;
        }
        Sys.Shutdown(Fd, Libc.SHUT_WR);
        _outputShut = true;
        if (_closeRequested)
        {
            _lingering = true;
            _lingerTimer = _context.Loop.Schedule(_context.Options.LingerTimeout, () => CloseNow(CloseReason.Closed));
        }
        UpdateInterest();
    }
}
