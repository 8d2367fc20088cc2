// [BackendFact]: a fact that is reported as skipped, with the reason, when its test class cannot run on this machine
// (a public static string NotRunBecause on the class says why; null or absent: it runs). The poller contract suite
// uses it so that a backend whose library is missing (kqueue without libkqueue) shows up as "not run: ...", never as
// a silent pass and never as an absent line.
using System.Reflection;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace EpollServer.Tests.Infrastructure;

[XunitTestCaseDiscoverer("EpollServer.Tests.Infrastructure.BackendFactDiscoverer", "EpollServer.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class BackendFactAttribute : FactAttribute;

public sealed class BackendFactDiscoverer(IMessageSink diagnostics) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        Type testClass = testMethod.TestClass.Class.ToRuntimeType();
        string? notRun = testClass.GetProperty("NotRunBecause", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) as string;
        if (notRun is not null)
            NotRunNotice.Announce(diagnostics, testClass.Name, notRun);
        yield return new BackendTestCase(diagnostics, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, notRun);
    }
}

public sealed class BackendTestCase : XunitTestCase
{
    private string? _notRun;

    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public BackendTestCase()
    {
    }

    public BackendTestCase(IMessageSink diagnostics, TestMethodDisplay display, TestMethodDisplayOptions displayOptions, ITestMethod testMethod, string? notRun)
        : base(diagnostics, display, displayOptions, testMethod) => _notRun = notRun;

    protected override string GetSkipReason(IAttributeInfo factAttribute) => _notRun ?? base.GetSkipReason(factAttribute);

    public override void Serialize(IXunitSerializationInfo data)
    {
        base.Serialize(data);
        data.AddValue("NotRun", _notRun);
    }

    public override void Deserialize(IXunitSerializationInfo data)
    {
        _notRun = data.GetValue<string>("NotRun");
        base.Deserialize(data);
    }
}

// The "NOT RUN: " line (.ci/run collects them) for what a discoverer reports skipped, once per place: a diagnostic
// line the console shows (xunit.runner.json: diagnosticMessages), so the reason stands in the run's output and not
// only in a report file.
public static class NotRunNotice
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> Announced = new();

    public static void Announce(IMessageSink sink, string where, string reason)
    {
        if (Announced.TryAdd(where, 0))
            sink.OnMessage(new DiagnosticMessage($"NOT RUN: {where}: {reason}"));
    }
}
