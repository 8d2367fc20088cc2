// RLIMIT_NOFILE: the daemon raises its soft limit to the hard one at start-up, since every connection is an fd.
using EpollServer.Interop;

namespace EpollServer.Diagnostics;

public static class FdLimit
{
    public readonly record struct Outcome(ulong SoftBefore, ulong Soft, ulong Hard, string? Error);

    public static Outcome RaiseToHard()
    {
        SyscallResult read = Sys.GetFdLimit(out ulong soft, out ulong hard);
        if (!read.Ok)
            return new Outcome(0, 0, 0, $"getrlimit: {read.Error}");
        if (soft >= hard)
            return new Outcome(soft, soft, hard, null);
        SyscallResult raised = Sys.SetFdLimit(hard, hard);
        return raised.Ok ? new Outcome(soft, hard, hard, null) : new Outcome(soft, soft, hard, $"setrlimit: {raised.Error}");
    }
}
