// What Tmds.LibC 0.5.0 and Mono.Posix.NETStandard 1.0.0 offer this server, measured against our own bindings
// (native-notes/dependencies.md): which calls Tmds.LibC has, how it declares errno, what one failing read costs
// through each (interleaved rounds), and whether Mono.Posix's errno translation and UnixSignal work on .NET 10.
using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using Tmds.Linux;

unsafe
{
    // What the package has and lacks.
    var libc = typeof(LibC);
    foreach (var name in new[] { "readv", "writev", "getrlimit", "setrlimit", "epoll_wait", "accept4", "eventfd", "poll", "recv", "send" })
        Console.WriteLine($"Tmds.LibC has {name}: {libc.GetMethods().Any(m => m.Name == name)}");
    var eagain = libc.GetMember("EAGAIN").FirstOrDefault();
    Console.WriteLine($"EAGAIN is a {eagain?.MemberType}");
    var asm = libc.Assembly;
    int noLastError = 0, total = 0;
    foreach (var m in libc.GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public))
    {
        var dll = m.GetCustomAttribute<DllImportAttribute>();
        if (dll is null) continue;
        total++;
        if (!dll.SetLastError) noLastError++;
    }
    Console.WriteLine($"DllImport methods: {total}, without SetLastError: {noLastError}");
    var pollImport = libc.GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public).Where(m => m.Name.Contains("poll") && m.GetCustomAttribute<DllImportAttribute>() is not null).Select(m => $"{m.Name} SetLastError={m.GetCustomAttribute<DllImportAttribute>()!.SetLastError}");
    Console.WriteLine(string.Join("; ", pollImport));
    Console.WriteLine("native assets for: " + string.Join(", ", Directory.GetDirectories(Path.Combine(Environment.GetEnvironmentVariable("HOME")!, ".nuget/packages/tmds.libc/0.5.0/runtimes")).Select(Path.GetFileName)));

    // A failing read on an empty non-blocking eventfd: a syscall and errno, like recv's EAGAIN on the hot path.
    int fd = Ours.eventfd(0, 0x800 /* EFD_NONBLOCK */);
    byte* buffer = stackalloc byte[8];
    const int N = 2_000_000;
    for (int round = 0; round < 5; round++)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < N; i++) { if (Ours.read(fd, buffer, 8) < 0 && Marshal.GetLastPInvokeError() != 11) throw new Exception(); }
        long t1 = Stopwatch.GetTimestamp();
        for (int i = 0; i < N; i++) { if (LibC.read(fd, buffer, 8) < 0 && LibC.errno != LibC.EAGAIN) throw new Exception(); }
        long t2 = Stopwatch.GetTimestamp();
        Console.WriteLine($"round {round}: ours {(t1 - t0) * 1e9 / Stopwatch.Frequency / N:0.0} ns/call, Tmds.LibC {(t2 - t1) * 1e9 / Stopwatch.Frequency / N:0.0} ns/call");
    }

    // Mono.Posix
    Console.WriteLine($"Mono.Posix getpid: {Mono.Unix.Native.Syscall.getpid()} (ours {Environment.ProcessId})");
    Console.WriteLine($"Mono.Posix errno 11 -> {Mono.Unix.Native.NativeConvert.ToErrno(11)}");
    try
    {
        using var sig = new Mono.Unix.UnixSignal(Mono.Unix.Native.Signum.SIGUSR2);
        Console.WriteLine("UnixSignal.WaitOne(10): " + sig.WaitOne(10));
    }
    catch (Exception e) { Console.WriteLine("UnixSignal.WaitOne(10) threw " + e.GetType().Name + ": " + e.Message); }
}

static unsafe partial class Ours
{
    [LibraryImport("libc", SetLastError = true)] internal static partial int eventfd(uint initval, int flags);
    [LibraryImport("libc", SetLastError = true)] internal static partial nint read(int fd, byte* buf, nint count);
}
