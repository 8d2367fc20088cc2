// CSV by RFC 4180 (CsvHelper): a field holding a comma, a quote or a line break is quoted, so a server or case name
// can never shift a spreadsheet's columns. Numbers arrive formatted (invariant culture) by the caller.
using System.Globalization;
using CsvHelper;

namespace EpollServer.LoadTests.Reports;

internal static class CsvTable
{
    public static string Write(IEnumerable<string> header, IEnumerable<IEnumerable<string>> rows)
    {
        using var text = new StringWriter(CultureInfo.InvariantCulture);
        using (var csv = CsvWriter.Create(text, new CsvWriterOptions(), leaveOpen: true))
        {
            foreach (IEnumerable<string> row in rows.Prepend(header))
                csv.WriteRecord([.. row]);
        }
        return text.ToString();
    }
}
