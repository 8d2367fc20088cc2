// Both columns of the platform table (Libc.Platform.cs), row by row, against literals typed from the headers. macOS:
// xnu's bsd/sys/socket.h (SOL_SOCKET, SO_*, MSG_*, AF_INET6), bsd/netinet6/in6.h (IPV6_V6ONLY), bsd/sys/fcntl.h
// (O_*), bsd/sys/resource.h (RLIMIT_NOFILE). No Mac runs these tests, so a mistyped number here is the only thing
// between a macOS build and a wrong socket option. NativeAbiTests also compiles the Linux column against this machine.
using EpollServer.Interop;

namespace EpollServer.Tests;

public sealed class PlatformConstantsTests
{
    // Linux x86_64/glibc: <bits/socket.h>, <asm-generic/socket.h>, <bits/fcntl-linux.h>, <netinet/in.h>,
    // <bits/resource.h>; macOS: xnu as above. 0 is "this platform has no such thing" (SO_NOSIGPIPE on Linux, which has
    // MSG_NOSIGNAL per send; SOCK_NONBLOCK, SOCK_CLOEXEC and MSG_NOSIGNAL on macOS, replaced there by calls).
    [Theory]
    [InlineData("AF_INET6", 10, 30)]
    [InlineData("SOCK_NONBLOCK", 0x800, 0)]
    [InlineData("SOCK_CLOEXEC", 0x80000, 0)]
    [InlineData("SOL_SOCKET", 1, 0xffff)]
    [InlineData("SO_REUSEADDR", 2, 0x0004)]
    [InlineData("SO_REUSEPORT", 15, 0x0200)]
    [InlineData("SO_ERROR", 4, 0x1007)]
    [InlineData("SO_SNDBUF", 7, 0x1001)]
    [InlineData("SO_RCVBUF", 8, 0x1002)]
    [InlineData("SO_LINGER", 13, 0x0080)]
    [InlineData("SO_RCVTIMEO", 20, 0x1006)]
    [InlineData("SO_SNDTIMEO", 21, 0x1005)]
    [InlineData("SO_NOSIGPIPE", 0, 0x1022)]
    [InlineData("IPV6_V6ONLY", 26, 27)]
    [InlineData("MSG_TRUNC", 0x20, 0x10)]
    [InlineData("MSG_DONTWAIT", 0x40, 0x80)]
    [InlineData("MSG_NOSIGNAL", 0x4000, 0)]
    [InlineData("O_NONBLOCK", 0x800, 0x0004)]
    [InlineData("O_CLOEXEC", 0x80000, 0x1000000)]
    [InlineData("RLIMIT_NOFILE", 7, 8)]
    public void BothColumns_AreTheirHeaders(string name, int linux, int macOS)
    {
        Assert.Equal(linux, PlatformConstants.ValueOf(name, macOS: false));
        Assert.Equal(macOS, PlatformConstants.ValueOf(name, macOS: true));
        // What Libc read at start-up is this platform's literal.
        var field = typeof(Libc).GetField(name, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
        Assert.True(field is not null, $"Libc.{name} is missing");
        Assert.Equal(OperatingSystem.IsMacOS() ? macOS : linux, (int)field!.GetValue(null)!);
    }

    // A row added to the table without its literals above fails here.
    [Fact]
    public void EveryRow_IsTestedAbove()
    {
        var tested = typeof(PlatformConstantsTests).GetMethod(nameof(BothColumns_AreTheirHeaders))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>()
            .Select(a => (string)a.GetData(null!).First()[0]).Order().ToArray();
        Assert.Equal(PlatformConstants.Rows.Select(r => r.Name).Order().ToArray(), tested);
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
