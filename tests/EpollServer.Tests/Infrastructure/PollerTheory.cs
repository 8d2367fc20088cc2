// [PollerTheory]: a theory over Pollers whose rows for a backend this machine cannot load (kqueue without libkqueue)
// are reported as skipped, with the reason, instead of vanishing from the run: the same "NOT RUN: " line and skip
// as [BackendFact] gives the contract suite, so a count of passed tests never hides a backend that was not tried.
using Xunit.Abstractions;
using Xunit.Sdk;

namespace EpollServer.Tests.Infrastructure;

[XunitTestCaseDiscoverer("EpollServer.Tests.Infrastructure.PollerTheoryDiscoverer", "EpollServer.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class PollerTheoryAttribute : TheoryAttribute;

public sealed class PollerTheoryDiscoverer(IMessageSink diagnostics) : TheoryDiscoverer(diagnostics)
{
    // Why a backend named in a data row cannot run here; null when it can.
    public static string? NotRunBecause(string poller) =>
        poller == "kqueue" && Reactor.KqueuePoller.Unavailable is { } why ? $"kqueue backend not run: {why}" : null;

    protected override IEnumerable<IXunitTestCase> CreateTestCasesForDataRow(ITestFrameworkDiscoveryOptions discoveryOptions,
        ITestMethod testMethod, IAttributeInfo theoryAttribute, object[] dataRow)
    {
        if (dataRow.Length == 0 || dataRow[0] is not string poller || NotRunBecause(poller) is not { } reason)
            return base.CreateTestCasesForDataRow(discoveryOptions, testMethod, theoryAttribute, dataRow);
        string where = testMethod.TestClass.Class.Name.Split('.')[^1];
        NotRunNotice.Announce(DiagnosticMessageSink, $"{where} ({poller} rows)", reason);
        return CreateTestCasesForSkippedDataRow(discoveryOptions, testMethod, theoryAttribute, dataRow, reason);
    }
}
