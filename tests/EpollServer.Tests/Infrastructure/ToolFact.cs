// [ToolFact("promtool")]: a fact that needs an external tool. Where the tool is not found it is reported as skipped,
// with the reason (a NOT RUN line, as BackendFact does), never as passed. Under CI (CI set and not false or 0, as
// .ci/run sets it) it runs anyway and fails on the missing tool: there scripts/test installs every tool, so a skip
// would hide a broken install.
using Xunit.Abstractions;
using Xunit.Sdk;

namespace EpollServer.Tests.Infrastructure;

[XunitTestCaseDiscoverer("EpollServer.Tests.Infrastructure.ToolFactDiscoverer", "EpollServer.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class ToolFactAttribute(string tool) : FactAttribute
{
    public string Tool { get; } = tool;
}

public sealed class ToolFactDiscoverer(IMessageSink diagnostics) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        string tool = factAttribute.GetConstructorArguments().Cast<string>().Single();
        string? notRun = Tools.Find(tool) is null && !Tools.UnderCi
            ? $"{tool} is not installed (scripts/test installs it: {Tools.InstallHint(tool)})" : null;
        if (notRun is not null)
            NotRunNotice.Announce(diagnostics, $"{testMethod.TestClass.Class.Name}.{testMethod.Method.Name}", notRun);
        yield return new BackendTestCase(diagnostics, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, notRun);
    }
}

public static class Tools
{
    // .ci/run's rule, the container test's too: CI=false (or 0) makes a skip a skip again.
    public static bool UnderCi => Environment.GetEnvironmentVariable("CI") is { Length: > 0 } ci
        && !ci.Equals("false", StringComparison.OrdinalIgnoreCase) && ci != "0";

    // Where scripts/test leaves the tool: the variable named after it (PROMTOOL), this checkout's .tools/, then PATH.
    public static string? Find(string tool)
    {
        if (Environment.GetEnvironmentVariable(tool.ToUpperInvariant()) is { Length: > 0 } named && File.Exists(named))
            return named;
        if (LoadTests.Bench.PeerFiles.FindUpwards(Path.Combine(".tools", tool)) is { } fetched)
            return fetched;
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, tool)).FirstOrDefault(File.Exists);
    }

    // The tool's path, or a failure that says how to get it (a ToolFact only gets here without it under CI).
    public static string Require(string tool) => Find(tool)
        ?? throw new XunitException($"{tool} is needed here and was not found: {InstallHint(tool)}; under CI a missing tool fails rather than skips");

    public static string InstallHint(string tool) => tool switch
    {
        "promtool" => "Debian's prometheus package, of which scripts/test takes the binary alone into .tools/",
        _ => $"see scripts/packages.tsv for {tool}'s package",
    };
}
