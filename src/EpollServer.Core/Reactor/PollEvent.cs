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
    HangUp = 4,    // both directions are shut (EPOLLHUP); reads drain what is left, then return 0
    Error = 8,     // a pending socket error (EPOLLERR); the next recv or send reports it
}

// One ready fd: the token it was registered with and what it is ready for.
internal readonly record struct PollEvent(ulong Token, PollEvents Events);
