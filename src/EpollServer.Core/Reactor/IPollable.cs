// Anything the loop dispatches readiness to: a listener, a connection, the waker.
namespace EpollServer.Reactor;

internal interface IPollable
{
    void OnPollEvent(PollEvents events);

    // OnPollEvent threw: the loop has already removed the fd from the poller (level-triggered, it would fire again
    // on every wait), and the target closes what it owns. Never called for the waker, which does not throw.
    void OnDispatchFailed(Exception error);
}

// Work the loop runs after the event, timer pass or batch during which it was deferred: how a close tells the
// handler without running protocol code inside another connection's callback (Redis's freeClientAsync).
internal interface IDeferred
{
    void RunDeferred();
}
