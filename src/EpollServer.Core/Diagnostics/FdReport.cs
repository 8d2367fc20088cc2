// The fds the server knows it owns, by role: what `lsof -p PID` and /proc/PID/fd should show for it.
namespace EpollServer.Diagnostics;

public sealed record FdReport(
    IReadOnlyList<int> ListenerFds,
    int PollerFd,
    int WakerFd,
    int SpareFd,
    IReadOnlyList<int> ConnectionFds,
    IReadOnlyList<int> ReservedFds,
    int WakerWriteFd = -1)
{
    public int Total => AllFds.Count();

    // The poll backend has no fd of its own (PollerFd -1), the waker has a second fd only where it is a pipe, and the
    // spare may be missing: none of them is listed then.
    public IEnumerable<int> AllFds =>
        ListenerFds.Concat([PollerFd, WakerFd, WakerWriteFd, SpareFd]).Where(fd => fd >= 0).Concat(ReservedFds).Concat(ConnectionFds);

    public override string ToString() =>
        $"fds own={Total} (listeners=[{string.Join(',', ListenerFds)}] poller={(PollerFd >= 0 ? PollerFd.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")} waker={WakerFd} " +
        $"spare={(SpareFd >= 0 ? SpareFd.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")} connections={ConnectionFds.Count} reserved={ReservedFds.Count})";
}
