// How a run loads its target: the connections, the load model and the phases. Immutable once the run starts.
using System.Net;

namespace EpollServer.LoadTests.Engine;

internal sealed record LoadPlan
{
    public required IPEndPoint Target { get; init; }

    public int Connections { get; init; } = 64;

    // Generator loop threads; connections are dealt to them round-robin.
    public int Threads { get; init; } = 1;

    // Closed model: requests in flight per connection (1: one round trip at a time; more: pipelined).
    public int Depth { get; init; } = 1;

    // Open model when above 0: requests per second across all connections, on a fixed schedule.
    public double Rate { get; init; }

    public int Size { get; init; } = 64;

    // Closed model: connections start sending one after another over this span. Open model: the rate ramps from 0.
    public TimeSpan RampUp { get; init; }

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);

    // Requests one connection may have queued in the open model before the run counts overflow errors.
    public int MaxOutstanding { get; init; } = 4096;

    // The server's pid when it runs on this machine: its RSS, CPU and /proc fd count go into the report.
    public int? ServerPid { get; init; }

    // Processes the server needs beside ServerPid (a second daemon and Redis, for chat across daemons): sampled with
    // it and summed, so the report shows what the whole deployment costs.
    public IReadOnlyList<int> CompanionPids { get; init; } = [];

    // Chat: where the receivers connect, when not Target (another daemon on the same backplane as the sender's).
    public IPEndPoint? ReceiverTarget { get; init; }

    public bool OpenModel => Rate > 0;

    public string ModelDescription => OpenModel
        ? $"open, {Rate:0.#} req/s" + (RampUp > TimeSpan.Zero ? $" (ramp {RampUp.TotalSeconds:0.#} s)" : "")
        : $"closed, {Connections} conn x {Depth} in flight" + (RampUp > TimeSpan.Zero ? $" (ramp {RampUp.TotalSeconds:0.#} s)" : "");
}
