// The macOS column of the platform table (Libc.Platform.cs), row by row, against xnu's headers: bsd/sys/socket.h
// (SOL_SOCKET, SO_*, MSG_*, AF_INET6), bsd/netinet6/in6.h (IPV6_V6ONLY), bsd/sys/fcntl.h (O_*), bsd/sys/resource.h
// (RLIMIT_NOFILE). The Linux column is compiled against this machine's headers in NativeAbiTests. No Mac runs these
// tests, so a mistyped number here is the only thing between a macOS build and a wrong socket option.
using EpollServer.Interop;

namespace EpollServer.Tests;

public sealed class PlatformConstantsTests
{
    [Theory]
    [InlineData("AF_INET6", 30)]
    [InlineData("SOL_SOCKET", 0xffff)]
    [InlineData("SO_REUSEADDR", 0x0004)]
    [InlineData("SO_REUSEPORT", 0x0200)]
    [InlineData("SO_ERROR", 0x1007)]
    [InlineData("SO_SNDBUF", 0x1001)]
    [InlineData("SO_RCVBUF", 0x1002)]
    [InlineData("SO_LINGER", 0x0080)]
    [InlineData("SO_RCVTIMEO", 0x1006)]
    [InlineData("SO_SNDTIMEO", 0x1005)]
    [InlineData("SO_NOSIGPIPE", 0x1022)]
    [InlineData("IPV6_V6ONLY", 27)]
    [InlineData("MSG_TRUNC", 0x10)]
    [InlineData("MSG_DONTWAIT", 0x80)]
    [InlineData("O_NONBLOCK", 0x0004)]
    [InlineData("O_CLOEXEC", 0x1000000)]
    [InlineData("RLIMIT_NOFILE", 8)]
    // What macOS lacks, and the code replaces with calls: 0 in the table.
    [InlineData("SOCK_NONBLOCK", 0)]
    [InlineData("SOCK_CLOEXEC", 0)]
    [InlineData("MSG_NOSIGNAL", 0)]
    public void MacOSColumn_IsXnus(string name, int macOS) => Assert.Equal(macOS, PlatformConstants.ValueOf(name, macOS: true));

    [Fact]
    public void EveryRow_IsTestedAbove_AndReadIntoLibc()
    {
        var tested = typeof(PlatformConstantsTests).GetMethod(nameof(MacOSColumn_IsXnus))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>()
            .Select(a => (string)a.GetData(null!).First()[0]).Order().ToArray();
        Assert.Equal(PlatformConstants.Rows.Select(r => r.Name).Order().ToArray(), tested);
        foreach (PlatformConstants.Row row in PlatformConstants.Rows)
        {
            var field = typeof(Libc).GetField(row.Name, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
            Assert.True(field is not null, $"Libc.{row.Name} is missing");
            Assert.Equal(OperatingSystem.IsMacOS() ? row.MacOS : row.Linux, (int)field!.GetValue(null)!);
        }
    }

    [Theory]
    [InlineData(2, 16)]    // AF_INET, sizeof(sockaddr_in)
    [InlineData(10, 28)]   // Linux's AF_INET6, sizeof(sockaddr_in6)
    public void SockaddrFamily_RoundTrips_AsThisPlatformWritesIt(int family, int length)
    {
        ushort field = Libc.FamilyField(family, length);
        Assert.Equal(family, Libc.FamilyOf(field));
        // On Linux the first two bytes are the family itself; on macOS a length byte comes first.
        Assert.Equal(OperatingSystem.IsMacOS() ? (ushort)((family << 8) | length) : (ushort)family, field);
    }
}
