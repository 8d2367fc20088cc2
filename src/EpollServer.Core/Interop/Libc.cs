// Where the C library is found on each platform; the declarations live in the Libc.*.cs files beside this one.
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace EpollServer.Interop;

internal static unsafe partial class Libc
{
    // A logical name resolved below: "libc" alone would find glibc's linker script (libc.so) on Debian, not the library.
    internal const string Name = "libc";

    // A module initializer because the resolver must be in place before the first P/Invoke, whoever makes it.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void RegisterResolver() =>
        NativeLibrary.SetDllImportResolver(typeof(Libc).Assembly, Resolve);

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName == KqueueLibrary)
            return ResolveKqueue();   // 0 when missing: the runtime then throws DllNotFoundException, as for any library
        if (libraryName != Name)
            return 0;
        string path = OperatingSystem.IsMacOS() ? "libSystem.dylib" : OperatingSystem.IsFreeBSD() ? "libc.so.7" : "libc.so.6";
        return NativeLibrary.Load(path);
    }
}
