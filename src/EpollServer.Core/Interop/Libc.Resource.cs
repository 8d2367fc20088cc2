// Process resource limits (<sys/resource.h>): the fd limit is raised at start-up.
using System.Runtime.InteropServices;

namespace EpollServer.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int getrlimit(int resource, rlimit* rlim);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int setrlimit(int resource, rlimit* rlim);
}
