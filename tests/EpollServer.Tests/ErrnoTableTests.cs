// The errno table: every named Errno has a row, every platform's column is a set of distinct numbers, and the BSD
// columns hold the numbers their headers give (the Linux column is proven against <errno.h> in NativeAbiTests).
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

    [Theory]
    // xnu bsd/sys/errno.h and FreeBSD sys/sys/errno.h: where the BSDs part from Linux, and the one place they part
    // from each other (EPROTO).
    [InlineData("EAGAIN", 11, 35, 35)]
    [InlineData("EINPROGRESS", 115, 36, 36)]
    [InlineData("EADDRINUSE", 98, 48, 48)]
    [InlineData("ECONNRESET", 104, 54, 54)]
    [InlineData("ECONNREFUSED", 111, 61, 61)]
    [InlineData("ETIMEDOUT", 110, 60, 60)]
    [InlineData("EHOSTUNREACH", 113, 65, 65)]
    [InlineData("EPROTO", 71, 100, 92)]
    [InlineData("EMFILE", 24, 24, 24)]
    public void BsdNumbers_AreTheirHeaders(string name, int linux, int macOS, int freeBsd)
    {
        Assert.Equal(linux, ErrnoTable.ValueOf(name, ErrnoTable.Platform.Linux));
        Assert.Equal(macOS, ErrnoTable.ValueOf(name, ErrnoTable.Platform.MacOS));
        Assert.Equal(freeBsd, ErrnoTable.ValueOf(name, ErrnoTable.Platform.FreeBsd));
    }

    [Fact]
    public void OnThisMachine_TheNamedValuesAreThisPlatformsColumn()
    {
        Assert.Equal(ErrnoTable.ValueOf("EAGAIN", ErrnoTable.Current), Errno.EAGAIN.Value);
        Assert.StartsWith("EAGAIN (", Errno.EAGAIN.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("errno (", new Errno(999).ToString(), StringComparison.Ordinal);
    }
}
