// The socket, fcntl and resource constants whose numbers differ between Linux and macOS, one row each, read once
// at start-up for the platform this runs on (as ErrnoTable does for errno). The Linux column is proven against the
// system headers in NativeAbiTests; the macOS column is xnu's bsd/sys/socket.h, netinet6/in6.h, sys/fcntl.h and
// sys/resource.h, checked row by row in PlatformConstantsTests. 0 means "macOS has no such thing": SOCK_NONBLOCK,
// SOCK_CLOEXEC and MSG_NOSIGNAL become fcntl calls and SO_NOSIGPIPE on each new socket there (Sys.ConfigureNewSocket).
namespace EpollServer.Interop;

internal static class PlatformConstants
{
    internal readonly record struct Row(string Name, int Linux, int MacOS);

    internal static readonly Row[] Rows =
    [
        new("AF_INET6", 10, 30),
        new("SOCK_NONBLOCK", 0x800, 0),
        new("SOCK_CLOEXEC", 0x80000, 0),
        new("SOL_SOCKET", 1, 0xffff),
        new("SO_REUSEADDR", 2, 0x0004),
        new("SO_REUSEPORT", 15, 0x0200),
        new("SO_ERROR", 4, 0x1007),
        new("SO_SNDBUF", 7, 0x1001),
        new("SO_RCVBUF", 8, 0x1002),
        new("SO_LINGER", 13, 0x0080),
        new("SO_RCVTIMEO", 20, 0x1006),
        new("SO_SNDTIMEO", 21, 0x1005),
        new("SO_NOSIGPIPE", 0, 0x1022),   // Linux has MSG_NOSIGNAL per send instead
        new("IPV6_V6ONLY", 26, 27),
        new("MSG_TRUNC", 0x20, 0x10),
        new("MSG_DONTWAIT", 0x40, 0x80),
        new("MSG_NOSIGNAL", 0x4000, 0),
        new("O_NONBLOCK", 0x800, 0x0004),
        new("O_CLOEXEC", 0x80000, 0x1000000),
        new("RLIMIT_NOFILE", 7, 8),
    ];

    public static bool IsMacOS { get; } = OperatingSystem.IsMacOS();

    public static int ValueOf(string name, bool macOS)
    {
        Row row = Array.Find(Rows, r => r.Name == name);
        if (row.Name is null)
            throw new ArgumentException($"{name} is not in the platform table", nameof(name));
        return macOS ? row.MacOS : row.Linux;
    }

    internal static int Current(string name) => ValueOf(name, IsMacOS);
}

internal static partial class Libc
{
    internal static readonly int AF_INET6 = PlatformConstants.Current(nameof(AF_INET6));
    internal static readonly int SOCK_NONBLOCK = PlatformConstants.Current(nameof(SOCK_NONBLOCK));
    internal static readonly int SOCK_CLOEXEC = PlatformConstants.Current(nameof(SOCK_CLOEXEC));
    internal static readonly int SOL_SOCKET = PlatformConstants.Current(nameof(SOL_SOCKET));
    internal static readonly int SO_REUSEADDR = PlatformConstants.Current(nameof(SO_REUSEADDR));
    internal static readonly int SO_REUSEPORT = PlatformConstants.Current(nameof(SO_REUSEPORT));
    internal static readonly int SO_ERROR = PlatformConstants.Current(nameof(SO_ERROR));
    internal static readonly int SO_SNDBUF = PlatformConstants.Current(nameof(SO_SNDBUF));
    internal static readonly int SO_RCVBUF = PlatformConstants.Current(nameof(SO_RCVBUF));
    internal static readonly int SO_LINGER = PlatformConstants.Current(nameof(SO_LINGER));
    internal static readonly int SO_RCVTIMEO = PlatformConstants.Current(nameof(SO_RCVTIMEO));
    internal static readonly int SO_SNDTIMEO = PlatformConstants.Current(nameof(SO_SNDTIMEO));
    internal static readonly int SO_NOSIGPIPE = PlatformConstants.Current(nameof(SO_NOSIGPIPE));
    internal static readonly int IPV6_V6ONLY = PlatformConstants.Current(nameof(IPV6_V6ONLY));
    internal static readonly int MSG_TRUNC = PlatformConstants.Current(nameof(MSG_TRUNC));
    internal static readonly int MSG_DONTWAIT = PlatformConstants.Current(nameof(MSG_DONTWAIT));
    internal static readonly int MSG_NOSIGNAL = PlatformConstants.Current(nameof(MSG_NOSIGNAL));
    internal static readonly int O_NONBLOCK = PlatformConstants.Current(nameof(O_NONBLOCK));
    internal static readonly int O_CLOEXEC = PlatformConstants.Current(nameof(O_CLOEXEC));
    internal static readonly int RLIMIT_NOFILE = PlatformConstants.Current(nameof(RLIMIT_NOFILE));

    // macOS (4.4BSD) sockaddrs open with a length byte before a one-byte family; Linux has a two-byte family.
    // The first two bytes of a sockaddr as each platform wants them, and the family read back from them.
    internal static ushort FamilyField(int family, int length) =>
        PlatformConstants.IsMacOS ? (ushort)((family << 8) | (length & 0xff)) : (ushort)family;

    internal static int FamilyOf(ushort field) => PlatformConstants.IsMacOS ? field >> 8 : field;
}
