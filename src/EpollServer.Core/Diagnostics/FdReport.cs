// The fds the server knows it owns, by role: what `lsof -p PID` and /proc/PID/fd should show for it.
using System.Globalization;

namespace EpollServer.Diagnostics;

// One reactor's own fds: its poller (-1 for poll, which has none), its waker, and the pipe's write end where the
// waker is a pipe (-1 where one eventfd does both).
public readonly record struct ReactorFds(int Poller, int Waker, int WakerWrite);

public sealed record FdReport(
    IReadOnlyList<int> ListenerFds,
    IReadOnlyList<ReactorFds> Reactors,
    int SpareFd,
    IReadOnlyList<int> ConnectionFds,
    IReadOnlyList<int> ReservedFds)
{
    public int Total => AllFds.Count();

    public IEnumerable<int> PollerFds => Reactors.Select(r => r.Poller).Where(fd => fd >= 0);

    public IEnumerable<int> WakerFds => Reactors.SelectMany(r => new[] { r.Waker, r.WakerWrite }).Where(fd => fd >= 0);

    // A missing spare, poller or pipe end is not listed.
    public IEnumerable<int> AllFds =>
        ListenerFds.Concat(PollerFds).Concat(WakerFds).Concat(SpareFd >= 0 ? [SpareFd] : []).Concat(ReservedFds).Concat(ConnectionFds);

    public override string ToString() =>
        $"fds own={Total} (listeners=[{List(ListenerFds)}] pollers=[{List(PollerFds)}] wakers=[{List(WakerFds)}] " +
        $"spare={(SpareFd >= 0 ? SpareFd.ToString(CultureInfo.InvariantCulture) : "none")} connections={ConnectionFds.Count} reserved={ReservedFds.Count})";

    private static string List(IEnumerable<int> fds) => string.Join(',', fds);
}
