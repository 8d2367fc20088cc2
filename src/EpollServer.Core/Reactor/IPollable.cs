// Anything the loop dispatches readiness to: a listener, a connection, the waker.
namespace EpollServer.Reactor;

internal interface IPollable
{
    void OnPollEvent(PollEvents events);
}
