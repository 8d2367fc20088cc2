// Polls a condition with a deadline: tests never sleep a fixed time hoping something has happened.
using System.Diagnostics;

namespace EpollServer.Tests.Infrastructure;

public static class Wait
{
    public static void Until(Func<bool> condition, string what, int timeoutMs = 10_000) => Until(condition, what, () => "", timeoutMs);

    // `state` describes what was seen instead, for the failure message.
    public static void Until(Func<bool> condition, string what, Func<string> state, int timeoutMs = 10_000)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.ElapsedMilliseconds > timeoutMs)
                Assert.Fail($"timed out after {timeoutMs} ms waiting until {what}{(state() is { Length: > 0 } seen ? $"; {seen}" : "")}");
            Thread.Sleep(10);
        }
    }
}
