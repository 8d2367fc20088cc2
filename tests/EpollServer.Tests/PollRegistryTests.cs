// The stale-event guard: a token outlives its target only as a token that no longer resolves.
using EpollServer.Reactor;

namespace EpollServer.Tests;

public sealed class PollRegistryTests
{
    private sealed class Target : IPollable
    {
        public void OnPollEvent(PollEvents events)
        {
        }

        public void OnDispatchFailed(Exception error)
        {
        }
    }

    [Fact]
    public void RemovedToken_DoesNotResolveToTheSlotsNextOwner()
    {
        var registry = new PollRegistry();
        var first = new Target();
        var second = new Target();
        ulong oldToken = registry.Add(first, 5);
        registry.Remove(oldToken);
        ulong newToken = registry.Add(second, 5);   // reuses the slot, as a reused fd number would in one batch
        Assert.Equal((uint)oldToken, (uint)newToken);
        Assert.NotEqual(oldToken, newToken);
        Assert.Null(registry.Find(oldToken));
        Assert.Same(second, registry.Find(newToken));
    }

    [Fact]
    public void ManyTargets_EachResolveToThemselves()
    {
        var registry = new PollRegistry();
        var targets = Enumerable.Range(0, 1000).Select(_ => new Target()).ToList();
        var tokens = targets.Select((t, i) => registry.Add(t, 100 + i)).ToList();
        for (int i = 0; i < targets.Count; i++)
        {
            Assert.Same(targets[i], registry.Find(tokens[i]));
            Assert.Equal(100 + i, registry.FdOf(tokens[i]));
        }
        Assert.Equal(1000, registry.Count);
    }
}
