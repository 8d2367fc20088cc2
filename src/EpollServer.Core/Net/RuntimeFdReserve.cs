// Fds held only to be given back, at the first EMFILE or at stop. A process at EMFILE (its limit lowered under it,
// or fds taken elsewhere) still needs fds for the runtime itself: a pipe for every thread it creates (the one that
// runs a signal handler included) and files it opens lazily. Without one it aborts ("Out of memory.", exit 134).
// Released from any thread, once.
using EpollServer.Interop;

namespace EpollServer.Net;

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

    public void Dispose() => Release();

    // False when it had already been released (by another thread, say): only one caller gives the fds back.
    public bool Release()
    {
        int[]? fds = Interlocked.Exchange(ref _fds, null);
        foreach (int fd in fds ?? [])
            Sys.Close(fd);
        return fds is { Length: > 0 };
    }
}
