// Process control (<signal.h>, <sched.h>): the load generator stops the servers it started with SIGTERM and pins
// its loop threads to CPUs of their own.
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
}
