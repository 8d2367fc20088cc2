// errno numbers differ by platform beyond the first few (EAGAIN is 11 on Linux, 35 on macOS and FreeBSD): one table,
// a column per platform, read once at start-up into the named Errno values. No code compares against a bare number.
// Linux: <asm-generic/errno*.h> (NativeAbiTests compiles them); macOS: xnu bsd/sys/errno.h; FreeBSD: sys/sys/errno.h.
namespace EpollServer.Interop;

internal static class ErrnoTable
{
    internal readonly record struct Row(string Name, int Linux, int MacOS, int FreeBsd);

    internal static readonly Row[] Rows =
    [
        new("EPERM", 1, 1, 1),
        new("ENOENT", 2, 2, 2),
        new("EINTR", 4, 4, 4),
        new("EBADF", 9, 9, 9),
        new("EAGAIN", 11, 35, 35),          // EWOULDBLOCK is the same number on all three
        new("ENOMEM", 12, 12, 12),
        new("EACCES", 13, 13, 13),
        new("EEXIST", 17, 17, 17),
        new("EINVAL", 22, 22, 22),
        new("ENFILE", 23, 23, 23),
        new("EMFILE", 24, 24, 24),
        new("EPIPE", 32, 32, 32),
        new("EPROTO", 71, 100, 92),
        new("EAFNOSUPPORT", 97, 47, 47),
        new("EADDRINUSE", 98, 48, 48),
        new("EADDRNOTAVAIL", 99, 49, 49),
        new("ECONNABORTED", 103, 53, 53),
        new("ECONNRESET", 104, 54, 54),
        new("ENOBUFS", 105, 55, 55),
        new("ENOTCONN", 107, 57, 57),
        new("ETIMEDOUT", 110, 60, 60),
        new("ECONNREFUSED", 111, 61, 61),
        new("EHOSTUNREACH", 113, 65, 65),
        new("EINPROGRESS", 115, 36, 36),
    ];

    public enum Platform
    {
        Linux,
        MacOS,
        FreeBsd,
    }

    public static Platform Current =>
        OperatingSystem.IsMacOS() ? Platform.MacOS : OperatingSystem.IsFreeBSD() ? Platform.FreeBsd : Platform.Linux;

    public static int ValueOf(string name, Platform platform)
    {
        Row row = Array.Find(Rows, r => r.Name == name);
        if (row.Name is null)
            throw new ArgumentException($"{name} is not in the errno table", nameof(name));
        return platform switch { Platform.MacOS => row.MacOS, Platform.FreeBsd => row.FreeBsd, _ => row.Linux };
    }

    // The name of a number on this platform, or null for one the table does not hold.
    public static string? NameOf(int value, Platform platform) =>
        Array.Find(Rows, r => (platform switch { Platform.MacOS => r.MacOS, Platform.FreeBsd => r.FreeBsd, _ => r.Linux }) == value).Name;
}
