// The write side of a connection: append to the output ring, send at the end of the batch, arm EPOLLOUT only for
// a remainder, and apply backpressure to the read side.
using EpollServer.Buffers;
using EpollServer.Interop;

namespace EpollServer.Net;

public sealed partial class Connection
{
    // Appends all of data to the output, or nothing when it does not fit (false). Bytes leave at the end of the
    // current batch, so several writes in one callback go out in one send.
    public bool Write(ReadOnlySpan<byte> data)
    {
        if (data.Length > OutputSpace)
            return false;
        if (data.IsEmpty)
            return true;
        if (!_output.HasStorage)
            _output.Attach(_server.OutputPool.Rent());
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

    private void QueueFlush()
    {
        if (_queuedForFlush || IsClosed)
            return;
        _queuedForFlush = true;
        _server.QueueFlush(this);
    }

    // Called by the server after each batch and by OnPollEvent when the socket is writable again.
    internal void Flush()
    {
        _queuedForFlush = false;
        if (IsClosed)
            return;
        if (!_output.IsEmpty && !Send())
            return;
        if (_output.IsEmpty)
            ReleaseOutput();
        _writeArmed = !_output.IsEmpty;
        // Input that waited for output space gets its turn once the output is below the low watermark; what it
        // writes re-queues this connection, so it is sent in this same pass.
        if (!_input.IsEmpty && _output.Count <= _server.LowWatermark)
        {
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
        if (_closeRequested && _output.IsEmpty)
        {
            FinishClose();
            return;
        }
        UpdateBackpressure();
    }

    // For fan-out (chat): one batch of input can produce more output for a reader than its ring holds before the
    // end-of-batch flush. When `needed` bytes do not fit, what is buffered is sent now, and true says they fit then.
    // A send error is left for that flush to act on (the error repeats), so no close runs inside the caller's loop.
    public bool EnsureOutputSpace(int needed)
    {
        if (OutputSpace >= needed)
            return true;
        if (IsClosing || _output.IsEmpty)
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
            _server.Counters.BytesSent += sent.Value;
            OnBytesMoved();
        }
        else if (sent.Error.IsWouldBlock)
        {
            _server.Counters.SendWouldBlock++;
        }
        return sent;
    }

    private void UpdateBackpressure()
    {
        if (!_readPaused && _output.Count >= _server.HighWatermark)
        {
            _readPaused = true;
            _server.Counters.ReadPauses++;
        }
        else if (_readPaused && _output.Count <= _server.LowWatermark)
        {
            _readPaused = false;
        }
        UpdateRequestTimeout();
        UpdateInterest();
    }

    private void FinishClose()
    {
        if (_inputEnded)
        {
            CloseNow(CloseReason.PeerClosed);
            return;
        }
        // Our FIN goes after the last byte; the peer's FIN, or the linger timeout, ends it.
        Sys.Shutdown(Fd, Libc.SHUT_WR);
        _lingering = true;
        _lingerTimer = _server.Loop.Schedule(_server.Options.LingerTimeout, () => CloseNow(CloseReason.Closed));
        UpdateInterest();
    }
}
