// A connection's timeouts: idle (no byte either way), first byte (the client never spoke), request (input left
// incomplete, as a slowloris peer leaves it) and connect (an outgoing connection not yet established). Each is a
// place in one of the context's DeadlineQueues, so an idle connection costs a link object and no timer of its own
// (see Reactor/DeadlineQueue.cs).
using EpollServer.Reactor;

namespace EpollServer.Net;

public sealed partial class Connection
{
    private bool _spoke;   // the peer has sent at least one byte; until then _waiting may be in the first-byte queue

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

    // Input the handler left unconsumed while reading is on is a request waiting for its end (a line for its LF);
    // its time starts when it first appears and is not restarted by more bytes of the same request, only when the
    // handler takes input (OnRequestsCompleted). Input held back by backpressure is not waiting: there the server
    // waits for the peer to read, which the idle timeout bounds.
    private void UpdateRequestTimeout()
    {
        if (_context.RequestQueue is not { } requests || !_spoke)
            return;
        bool waiting = !_input.IsEmpty && !_readPaused && !_readStopped && !_closeRequested;
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
        if (_spoke && _waiting is { Queued: true })
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
