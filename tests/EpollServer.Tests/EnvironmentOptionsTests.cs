// EPOLLSERVER_* variables configure the daemon as its options do (the container's way), the command line wins,
// and a bad value is refused naming the variable it came from. --log-format json writes one JSON object a line.
using System.Text.Json;
using EpollServer.Host;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class EnvironmentOptionsTests
{
    [Fact]
    public void EveryServeOption_HasAVariable_AndTheReadmeListsEach()
    {
        var root = ServeCommand.Create();
        string[] variables = EnvironmentOptions.Configurable(root).Select(EnvironmentOptions.VariableFor).ToArray();
        Assert.Contains("EPOLLSERVER_PORT", variables);
        Assert.Contains("EPOLLSERVER_MAX_CONNECTIONS_PER_ADDRESS", variables);
        Assert.Contains("EPOLLSERVER_LOG_FORMAT", variables);
        Assert.Equal(root.Options.Count - 2, variables.Length);   // all but --help and --version
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        foreach (string variable in variables)
            Assert.True(readme.Contains(variable, StringComparison.Ordinal), $"README.md does not mention {variable}");
    }

    // The README's table of options is the settings tables' own rendering: an option's name, variable, default and
    // help cannot drift from the code.
    [Fact]
    public void ReadmeOptionTable_IsTheOneTheSettingsTablesMake()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md")).ReplaceLineEndings("\n");
        string table = ServeCommand.MarkdownTable();
        Assert.True(readme.Contains(table, StringComparison.Ordinal), $"README.md's option table is not the current one; it should read:\n{table}");
    }

    [Fact]
    public void Variables_BecomeOptions_UnlessTheCommandLineGivesThem()
    {
        var root = ServeCommand.Create();
        var environment = new Dictionary<string, string>
        {
            ["EPOLLSERVER_PORT"] = "9000", ["EPOLLSERVER_PROTOCOL"] = "chat", ["EPOLLSERVER_UDP"] = "1",
            ["EPOLLSERVER_GREETING"] = "-hi-", ["EPOLLSERVER_MAX_LINE"] = "", ["EPOLLSERVER_PROTOCL"] = "typo", ["HOME"] = "/root",
        };
        var (settings, unknown) = EnvironmentOptions.Read(root, ["-p", "9001"], environment.GetValueOrDefault, environment.Keys);
        Assert.Equal(["--greeting=-hi-", "--protocol=chat", "--udp=true"], settings.Select(s => s.Token).Order().ToArray());
        Assert.Equal(["EPOLLSERVER_PROTOCL"], unknown);
    }

    [Fact]
    public void Daemon_ServesWhatTheEnvironmentSays()
    {
        using var daemon = DaemonProcess.Start("", environment: new Dictionary<string, string>
        {
            ["EPOLLSERVER_ADDRESS"] = "127.0.0.1", ["EPOLLSERVER_PORT"] = "0", ["EPOLLSERVER_PROTOCOL"] = "echo", ["EPOLLSERVER_IDLE_TIMEOUT"] = "60",
            ["EPOLLSERVER_UDP"] = "yes", ["EPOLLSERVER_GREETING"] = "hi from the environment",
        });
        Assert.Contains(daemon.Lines, l => l.Contains("protocol=echo", StringComparison.Ordinal));
        Assert.Contains(daemon.Lines, l => l.Contains($"+ UDP on 127.0.0.1:{daemon.Port}", StringComparison.Ordinal));
        using var client = TestClient.Connect(daemon.Port);
        Assert.Equal("hi from the environment", client.ReadLine());
        client.Send("hello\n");
        Assert.Equal("hello", client.ReadLine());
        daemon.Signal(DaemonProcess.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit());
    }

    [Fact]
    public void CommandLine_WinsOverTheEnvironment()
    {
        using var daemon = DaemonProcess.Start("--protocol line --address 127.0.0.1",
            environment: new Dictionary<string, string> { ["EPOLLSERVER_PROTOCOL"] = "reverse", ["EPOLLSERVER_PORT"] = "0" });
        using var client = TestClient.Connect(daemon.Port);
        client.Send("hello\n");
        Assert.Equal("hello", client.ReadLine());
    }

    [Theory]
    [InlineData("EPOLLSERVER_PORT", "abc", "EPOLLSERVER_PORT=abc")]
    [InlineData("EPOLLSERVER_UDP", "maybe", "EPOLLSERVER_UDP=maybe")]
    [InlineData("EPOLLSERVER_INPUT_BUFFER", "1000", "--input-buffer 1000 must be a power of two")]
    [InlineData("EPOLLSERVER_LOG_FORMAT", "xml", "--log-format 'xml' is not known")]
    public void BadValue_IsRefused_NamingTheVariable(string variable, string value, string message)
    {
        using var daemon = DaemonProcess.Start("", expectListening: false, environment: new Dictionary<string, string> { [variable] = value });
        Assert.Equal(2, daemon.WaitForExit());
        Assert.Contains(daemon.Lines, l => l.StartsWith("stderr: epollserver: ", StringComparison.Ordinal) && l.Contains(message, StringComparison.Ordinal));
        Assert.Contains(daemon.Lines, l => l.Contains($"was set by {variable}={value}", StringComparison.Ordinal));
    }

    [Fact]
    public void JsonLogs_AreOneObjectPerLine_WithTheUsualEvents()
    {
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0",
            environment: new Dictionary<string, string> { ["EPOLLSERVER_LOG_FORMAT"] = "json" });
        daemon.Signal(DaemonProcess.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit());
        string[] lines = daemon.Lines.Where(l => !l.StartsWith("stderr: ", StringComparison.Ordinal)).ToArray();
        Assert.True(lines.Length >= 3, daemon.Output);
        var messages = new List<string>();
        foreach (string line in lines)
        {
            using JsonDocument entry = JsonDocument.Parse(line);   // throws on anything that is not one whole object
            Assert.Equal("Information", entry.RootElement.GetProperty("LogLevel").GetString());
            Assert.EndsWith("Z", entry.RootElement.GetProperty("Timestamp").GetString(), StringComparison.Ordinal);
            messages.Add(entry.RootElement.GetProperty("Message").GetString()!);
        }
        Assert.Contains(messages, m => m.StartsWith("listening on 127.0.0.1:", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("stopped: connections open=0", StringComparison.Ordinal));
    }

    internal static string RepositoryRoot()
    {
        string? directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, "EpollServer.sln")))
            directory = Path.GetDirectoryName(directory);
        return directory ?? throw new InvalidOperationException("EpollServer.sln not found above " + AppContext.BaseDirectory);
    }
}
