// `epollserver-load` as a user runs it: the README's one-command scenario starts EpollServer itself, loads it,
// stops it, and writes the four reports; bad options are refused with one line and exit 2.
using System.Diagnostics;
using System.Text.Json;

using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

[Collection(LoadCollection.Name)]
public class LoadCommandTests
{
    private static (int ExitCode, string Output) RunLoad(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "epollserver-load.dll"));
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("epollserver-load did not finish within 60 s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public void RunEcho_StartsTheServer_LoadsIt_AndWritesTheReports()
    {
        using var temp = TempFolder.Create("epollserver-load");
        string folder = temp.Path;
        var (exitCode, output) = RunLoad("run", "echo", "-c", "4", "--warmup", "0.3", "--duration", "1", "-o", folder);
        Assert.True(exitCode == 0, output);
        foreach (string name in new[] { "report.md", "report.csv", "report.json", "report.html" })
            Assert.True(File.Exists(Path.Combine(folder, name)), $"{name} missing; output: {output}");
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "report.json")));
        JsonElement server = json.RootElement.GetProperty("cases")[0].GetProperty("servers")[0];
        Assert.Equal("epollserver", server.GetProperty("server").GetString());
        Assert.True(server.GetProperty("passed").GetBoolean(), output);
        Assert.Equal(0, server.GetProperty("exitCodes")[0].GetInt32());   // SIGTERM: a clean stop
        Assert.True(server.GetProperty("median").GetProperty("perSecond").GetDouble() > 0);
    }

    [Fact]
    public void RunAgainstATarget_ByName_LoadsThatServer()
    {
        // As the compose file's load service names its server (server:7007); localhost comes from /etc/hosts.
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0");
        using var temp = TempFolder.Create("epollserver-load");
        var (exitCode, output) = RunLoad("run", "echo", "--target", $"localhost:{daemon.Port}", "-c", "2", "--warmup", "0.2", "--duration", "0.5", "-o", temp.Path);
        Assert.True(exitCode == 0, output);
        Assert.Contains($"127.0.0.1:{daemon.Port}", File.ReadAllText(Path.Combine(temp.Path, "report.md")));
        DaemonFdReport.Request(daemon);
        Assert.Contains(daemon.Lines, l => l.Contains("accepted=2 ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("run nosuch", "unknown scenario 'nosuch'")]
    [InlineData("run echo --size 1", "--size must be between 2")]
    [InlineData("run chat --size 10", "--size must be between 37")]
    [InlineData("run echo --target localhost", "--target 'localhost' is not HOST:PORT")]
    [InlineData("run line --server kestrel", "kestrel serves only echo")]
    [InlineData("bench --suite huge", "unknown suite 'huge'")]
    [InlineData("bench --cases echo-7c", "unknown case echo-7c")]
    public void BadOptions_AreRefusedWithOneLine_AndExit2(string arguments, string message)
    {
        var (exitCode, output) = RunLoad(arguments.Split(' '));
        Assert.Equal(2, exitCode);
        Assert.Contains(message, output);
    }
}
