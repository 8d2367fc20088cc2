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

// Fds held only to be given back at shutdown. A process at EMFILE (its limit lowered under it, or fds leaked
// elsewhere) that then gets SIGTERM must still run the shutdown path, and the runtime opens files lazily on it (an
// assembly, say); without a free fd it aborts ("Out of memory.", exit 134). Released from any thread, once.
internal sealed class RuntimeFdReserve : IDisposable
{
    public const int Size = 16;

    private int[]? _fds;

    public IReadOnlyList<int> Fds => _fds ?? [];

    public void Acquire()
    {
        var fds = new List<int>(Size);
        for (int i = 0; i < Size; i++)
        {
            SyscallResult opened = Sys.OpenReadOnly("/dev/null");
            if (!opened.Ok)
                break;
            fds.Add(opened.Fd);
        }
        _fds = [.. fds];
    }

    public void Dispose()
    {
        int[]? fds = Interlocked.Exchange(ref _fds, null);
        foreach (int fd in fds ?? [])
            Sys.Close(fd);
    }
}
