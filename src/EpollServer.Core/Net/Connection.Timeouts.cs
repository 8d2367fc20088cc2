// A connection's timeouts: idle (no byte either way), first byte (the client never spoke), request (input left
// incomplete, as a slowloris peer leaves it) and connect (an outgoing connection not yet established). Each is a
// place in one of the context's DeadlineQueues, so an idle connection costs a link object and no timer of its own
// (see Reactor/DeadlineQueue.cs).
using EpollServer.Reactor;

namespace EpollServer.Net;

public sealed partial class Connection
{
    private bool _spoke;   // the peer has sent at least one byte; until then _waiting may be in the first-byte queue
    private bool _requestHeld;   // the handler consumed part of a request that is not complete (HoldRequestTimer)
    private CloseReason _closeAs = CloseReason.Closed;   // why a Close() requested by the server itself ends

    // The handler consumed bytes of a request that is not complete yet (a body still arriving): the request time
    // goes on running from when the request began, through every byte consumed, until ReleaseRequestTimer. Without
    // it, consuming input counts as a request completed and restarts the time, so a body that trickles in forever
    // would never be cut off.
    public void HoldRequestTimer() => _requestHeld = true;

    // The held request is complete: what follows is the next request, whose time starts when its input appears.
    public void ReleaseRequestTimer()
    {
        if (!_requestHeld)
            return;
        _requestHeld = false;
        if (_waiting is { Queued: true } && _spoke)
            _context.RequestQueue!.Remove(_waiting);
    }

    // The request queue's expiry: the handler may answer first (an HTTP 408), then the connection closes the way
    // Close() does so that answer is delivered; a handler that wrote nothing is closed at once, as before.
    internal void OnRequestTimedOut()
    {
        if (IsClosed)
            return;
        int owed = _output.Count;
        try
        {
            Handler.OnRequestTimeout(this);
        }
        catch (Exception e)
        {
            HandlerFailed(e);
            return;
        }
        if (IsClosed)
            return;
        if (_output.Count == owed)
        {
            CloseNow(CloseReason.RequestTimeout);
            return;
        }
        _context.Counters.CountClose(CloseReason.RequestTimeout);   // now: the flush and the linger may take a while
        _closeAs = CloseReason.RequestTimeout;
        Close();
    }

    // An open connection: idle from now, and an accepted one whose client speaks first must say something soon.
    internal void StartTimeouts()
    {
        if (_context.IdleQueue is { } idle)
            idle.Touch(_idle = new DeadlineLink<Connection>(this));
        if (_context.FirstByteQueue is { } firstByte && IsAccepted && Handler.ClientSpeaksFirst)
            firstByte.Touch(_waiting = new DeadlineLink<Connection>(this));
    }

    // Any byte in or out restarts the idle time: a long download to a slow reader is not idle.
    private void OnBytesMoved()
    {
        if (_idle is not null)
            _context.IdleQueue!.Touch(_idle);
    }

    private void OnBytesReceived()
    {
        OnBytesMoved();
        if (_spoke)
            return;
        _spoke = true;
        if (_waiting is { Queued: true })
            _context.FirstByteQueue!.Remove(_waiting);
    }

    // Input the handler left unconsumed while reading is on, or a request it holds, is a request waiting for its end
    // (a line for its LF, a body for its last byte);
    // its time starts when it first appears and is not restarted by more bytes of the same request, only when the
    // handler takes input (OnRequestsCompleted). Input held back by backpressure is not waiting: there the server
    // waits for the peer to read, which the idle timeout bounds.
    private void UpdateRequestTimeout()
    {
        if (_context.RequestQueue is not { } requests || !_spoke)
            return;
        bool waiting = (!_input.IsEmpty || _requestHeld) && !_readPaused && !_readStopped && !_closeRequested;
        if (waiting && _waiting is not { Queued: true })
            requests.Touch(_waiting ??= new DeadlineLink<Connection>(this));
        else if (!waiting && _waiting is { Queued: true })
            requests.Remove(_waiting);
    }

    // The handler consumed input: a request ended, so what is left is the start of the next one, whose time starts
    // now (UpdateRequestTimeout queues it again). A client that pipelines, each segment finishing one line and
    // starting the next, is making progress and is never cut off; a line that never ends still is.
    private void OnRequestsCompleted()
    {
        if (_spoke && !_requestHeld && _waiting is { Queued: true })
            _context.RequestQueue!.Remove(_waiting);
    }

    private void LeaveTimeoutQueues()
    {
        if (_idle is { Queued: true })
            _context.IdleQueue!.Remove(_idle);
        if (_waiting is { Queued: true })
            WaitingQueue()!.Remove(_waiting);
    }

    // Which queue _waiting is in: connect until connected, then first-byte until the peer spoke, then request.
    private DeadlineQueue<Connection>? WaitingQueue() =>
        Establishing ? _context.ConnectQueue : _spoke ? _context.RequestQueue : _context.FirstByteQueue;
}
