// Neutral readiness events and interests: what every poller backend reports, whatever its native flags are.
namespace EpollServer.Reactor;

[Flags]
internal enum Interest : byte
{
    None = 0,
    Read = 1,
    Write = 2,
}

[Flags]
internal enum PollEvents : byte
{
    None = 0,
    Readable = 1,
    Writable = 2,

    // An error or a hang-up (EPOLLERR, EPOLLHUP; kqueue's EV_ERROR, or EV_EOF on a write filter): the backends report
    // it together with Readable and Writable, as Redis's ae_epoll.c folds both into AE_READABLE|AE_WRITABLE, so the
    // recv or send a consumer makes anyway tells it what happened. Level-triggered, it repeats until the fd is closed:
    // a consumer that can neither read nor write the fd then must close it. This bit is the only thing it decides.
    Ended = 4,

    // What every backend reports for an error or a hang-up: defined once, here.
    Failure = Readable | Writable | Ended,
}

// One ready fd: the token it was registered with and what it is ready for.
internal readonly record struct PollEvent(ulong Token, PollEvents Events);
