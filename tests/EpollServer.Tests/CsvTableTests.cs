// The reports' CSV follows RFC 4180: a field with a comma, a quote or a line break is quoted (its quotes doubled),
// every other field is written as it is, negative numbers included, and records end in CRLF.
using EpollServer.LoadTests.Reports;

namespace EpollServer.Tests;

public class CsvTableTests
{
    [Fact]
    public void FieldsThatWouldShiftTheColumns_AreQuoted_AndNothingElseIs()
    {
        string csv = CsvTable.Write(["server", "per_second"], [["epollserver", "139317.0"], ["odd,\"name\"\nhere", "-2.5"], ["", ""]]);
        Assert.Equal("server,per_second\r\nepollserver,139317.0\r\n\"odd,\"\"name\"\"\nhere\",-2.5\r\n,\r\n", csv);
    }
}
