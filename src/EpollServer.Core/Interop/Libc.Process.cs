// Process control (<signal.h>, <sched.h>, <sys/prctl.h>): the load generator stops the servers it started with
// SIGTERM and pins its loop threads to CPUs of their own; reactor threads name themselves for top -H.
using System.Runtime.InteropServices;

namespace EpollServer.Interop;

internal static unsafe partial class Libc
{
    internal const int SIGTERM = 15;

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int kill(int pid, int sig);

    // pid 0: the calling thread; threads it creates afterwards inherit the mask.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int sched_setaffinity(int pid, nuint cpusetsize, ulong* mask);

    // Linux only (macOS has no affinity masks).
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int sched_getaffinity(int pid, nuint cpusetsize, ulong* mask);

    // Linux only: PR_SET_NAME names the calling thread (at most 15 bytes and the NUL: what top -H and ps -L show).
    internal const int PR_SET_NAME = 15;

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int prctl(int option, byte* arg2, nuint arg3, nuint arg4, nuint arg5);
}
