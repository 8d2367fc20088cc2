// libuv's EMFILE trick: one fd held in reserve, so that with the table full the server can still accept a pending
// connection in order to close it, instead of leaving it (and the listener's readiness) stuck in the backlog.
using EpollServer.Interop;

namespace EpollServer.Net;

internal sealed class SpareFd : IDisposable
{
    public int Fd { get; private set; } = -1;

    public bool IsHeld => Fd >= 0;

    public SyscallResult Acquire()
    {
        if (IsHeld)
            return SyscallResult.Success(Fd);
        SyscallResult opened = Sys.OpenReadOnly("/dev/null");
        if (opened.Ok)
            Fd = opened.Fd;
        return opened;
    }

    public void Release()
    {
        if (!IsHeld)
            return;
        Sys.Close(Fd);
        Fd = -1;
    }

    public void Dispose() => Release();
}
