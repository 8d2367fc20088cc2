// The load engine's smoke runs saturate both CPUs of a small CI machine for a second or two each (the open model
// busy-polls on purpose). Run beside the timing tests (a 1-second idle timeout, say), they could starve those of
// CPU; this collection runs them alone, after the parallel ones.
namespace EpollServer.Tests.Infrastructure;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LoadCollection
{
    public const string Name = "load engine (runs alone)";
}
