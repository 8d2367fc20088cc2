// The fds the server knows it owns, by role: what `lsof -p PID` and /proc/PID/fd should show for it.
namespace EpollServer.Diagnostics;

public sealed record FdReport(
    IReadOnlyList<int> ListenerFds,
    int PollerFd,
    int WakerFd,
    int SpareFd,
    IReadOnlyList<int> ConnectionFds,
    IReadOnlyList<int> ReservedFds)
{
    public int Total => ListenerFds.Count + ConnectionFds.Count + 2 + (SpareFd >= 0 ? 1 : 0) + ReservedFds.Count;

    public IEnumerable<int> AllFds =>
        ListenerFds.Concat([PollerFd, WakerFd]).Concat(SpareFd >= 0 ? [SpareFd] : []).Concat(ReservedFds).Concat(ConnectionFds);

    public override string ToString() =>
        $"fds own={Total} (listeners=[{string.Join(',', ListenerFds)}] poller={PollerFd} waker={WakerFd} " +
        $"spare={(SpareFd >= 0 ? SpareFd.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")} connections={ConnectionFds.Count} reserved={ReservedFds.Count})";
}
