// A command-line tool the tests run to its end (gcc, curl, wrk, promtool): its output is returned, and a tool that is
// missing, runs past the timeout or exits non-zero fails the test with `failure` (which says how to install it) and
// what the tool printed on stderr.
using System.Diagnostics;

namespace EpollServer.Tests.Infrastructure;

public static class ExternalTool
{
    public static string Run(string file, IEnumerable<string> arguments, string failure, string? input = null, int timeoutMs = 60_000)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{failure}: {e.Message}");
        }
        using (process)
        {
            if (input is not null)
            {
                process.StandardInput.Write(input);
                process.StandardInput.Close();
            }
            Task<string> errors = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            Assert.True(process.WaitForExit(timeoutMs), $"{file} did not finish in {timeoutMs / 1000} s");
            Assert.True(process.ExitCode == 0, $"{failure}: exit {process.ExitCode}: {errors.Result}{output}");
            return output + errors.Result;
        }
    }
}
