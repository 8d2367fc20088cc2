// The errno table: every named Errno has a row, every platform's column is a set of distinct numbers, and every cell
// is the number its platform's header gives, typed in below (NativeAbiTests also compiles the Linux column against
// this machine's <errno.h>).
using EpollServer.Interop;

namespace EpollServer.Tests;

public sealed class ErrnoTableTests
{
    [Fact]
    public void EveryNamedErrno_HasARow_AndEveryRowANamedErrno()
    {
        string[] named = typeof(Errno).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Where(f => f.FieldType == typeof(Errno) && f.Name != nameof(Errno.None)).Select(f => f.Name).Order().ToArray();
        Assert.Equal(named, ErrnoTable.Rows.Select(r => r.Name).Order().ToArray());
    }

    [Theory]
    [InlineData("Linux")]
    [InlineData("MacOS")]
    [InlineData("FreeBsd")]
    public void EachPlatform_NumbersEveryNameDifferently_AndNamesItsNumbersBack(string platformName)
    {
        var platform = Enum.Parse<ErrnoTable.Platform>(platformName);
        int[] values = ErrnoTable.Rows.Select(r => ErrnoTable.ValueOf(r.Name, platform)).ToArray();
        Assert.Equal(values.Length, values.Distinct().Count());
        foreach (ErrnoTable.Row row in ErrnoTable.Rows)
            Assert.Equal(row.Name, ErrnoTable.NameOf(ErrnoTable.ValueOf(row.Name, platform), platform));
    }

    // Every row against its headers, typed in here: Linux x86_64 <asm-generic/errno-base.h> and <asm-generic/errno.h>
    // (glibc's <errno.h> includes them), xnu bsd/sys/errno.h, FreeBSD sys/sys/errno.h. The BSDs part from Linux past
    // EPIPE, and from each other only at EPROTO.
    [Theory]
    [InlineData("EPERM", 1, 1, 1)]
    [InlineData("ENOENT", 2, 2, 2)]
    [InlineData("EINTR", 4, 4, 4)]
    [InlineData("EBADF", 9, 9, 9)]
    [InlineData("EAGAIN", 11, 35, 35)]
    [InlineData("ENOMEM", 12, 12, 12)]
    [InlineData("EACCES", 13, 13, 13)]
    [InlineData("EEXIST", 17, 17, 17)]
    [InlineData("EINVAL", 22, 22, 22)]
    [InlineData("ENFILE", 23, 23, 23)]
    [InlineData("EMFILE", 24, 24, 24)]
    [InlineData("EPIPE", 32, 32, 32)]
    [InlineData("EPROTO", 71, 100, 92)]
    [InlineData("EAFNOSUPPORT", 97, 47, 47)]
    [InlineData("EADDRINUSE", 98, 48, 48)]
    [InlineData("EADDRNOTAVAIL", 99, 49, 49)]
    [InlineData("ECONNABORTED", 103, 53, 53)]
    [InlineData("ECONNRESET", 104, 54, 54)]
    [InlineData("ENOBUFS", 105, 55, 55)]
    [InlineData("ENOTCONN", 107, 57, 57)]
    [InlineData("ETIMEDOUT", 110, 60, 60)]
    [InlineData("ECONNREFUSED", 111, 61, 61)]
    [InlineData("EHOSTUNREACH", 113, 65, 65)]
    [InlineData("EINPROGRESS", 115, 36, 36)]
    public void EveryColumn_IsItsHeaders(string name, int linux, int macOS, int freeBsd)
    {
        Assert.Equal(linux, ErrnoTable.ValueOf(name, ErrnoTable.Platform.Linux));
        Assert.Equal(macOS, ErrnoTable.ValueOf(name, ErrnoTable.Platform.MacOS));
        Assert.Equal(freeBsd, ErrnoTable.ValueOf(name, ErrnoTable.Platform.FreeBsd));
        // And the named value this process uses is this platform's literal, not merely the table's cell.
        var named = (Errno)typeof(Errno).GetField(name)!.GetValue(null)!;
        Assert.Equal(OperatingSystem.IsMacOS() ? macOS : OperatingSystem.IsFreeBSD() ? freeBsd : linux, named.Value);
    }

    // A row added to the table without its literals above fails here.
    [Fact]
    public void EveryRow_HasItsLiteralsAbove()
    {
        string[] typed = typeof(ErrnoTableTests).GetMethod(nameof(EveryColumn_IsItsHeaders))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>()
            .Select(a => (string)a.GetData(null!).First()[0]).Order().ToArray();
        Assert.Equal(typed, ErrnoTable.Rows.Select(r => r.Name).Order().ToArray());
    }

    [Fact]
    public void OnThisMachine_TheNamedValuesAreThisPlatformsColumn()
    {
        Assert.Equal(OperatingSystem.IsLinux() ? 11 : 35, Errno.EAGAIN.Value);
        Assert.StartsWith(OperatingSystem.IsLinux() ? "EAGAIN (11): " : "EAGAIN (35): ", Errno.EAGAIN.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("errno (", new Errno(999).ToString(), StringComparison.Ordinal);
    }
}
