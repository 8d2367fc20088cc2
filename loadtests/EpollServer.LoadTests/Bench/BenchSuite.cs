// The cases `bench` runs. "quick" is the headline (echo, 64 connections, 64 B); "full" is the issue's whole list;
// "scaling" runs echo and chat fan-out against 1, 2, 4, ... reactors (Peers.Scaling); "http" is the wrk cases;
// "backplane" is chat fan-out on one daemon against two daemons sharing the room through Redis.
using EpollServer.LoadTests.Engine;

namespace EpollServer.LoadTests.Bench;

internal sealed record BenchCase(string Id, string Title, string Scenario, Func<LoadPlan, LoadPlan> Shape)
{
    // The iterative blocking server serves one client at a time: only cases where that is the lesson include it.
    public bool IncludesBlocking { get; init; }

    // Open model at half the rate EpollServer reached in the headline case (p99 at half load, against each peer).
    public bool AtHalfHeadlineRate { get; init; }
}

internal static class BenchSuite
{
    public const string HeadlineId = "echo-64c-64b";

    private static readonly BenchCase Headline = new(HeadlineId, "echo round trip, 64 connections, 64 B, closed model", "echo",
        p => p with { Connections = 64, Size = 64, Depth = 1 }) { IncludesBlocking = true };

    private static readonly BenchCase ChatFanout = new("chat-100", "chat fan-out, 1 sender to 100 receivers, window 16", "chat",
        p => p with { Connections = 100, Size = 64, Depth = 16 });

    // HTTP plaintext by TechEmpower's rules, driven by wrk against the servers that speak HTTP (nginx, Kestrel).
    public static readonly IReadOnlyList<BenchCase> Http =
    [
        new("http-64c", "HTTP GET /plaintext with wrk, 64 connections", "plaintext", p => p with { Connections = 64, Depth = 1 }),
        new("http-64c-pipelined", "HTTP GET /plaintext with wrk, 64 connections x 16 pipelined", "plaintext", p => p with { Connections = 64, Depth = 16 }),
    ];

    public static readonly IReadOnlyList<BenchCase> Full =
    [
        new("echo-1c-64b", "echo round trip, 1 connection, 64 B", "echo", p => p with { Connections = 1, Size = 64, Depth = 1 }) { IncludesBlocking = true },
        Headline,
        new("echo-64c-64b-pipelined", "echo pipelined, 64 connections x 16 in flight, 64 B", "echo", p => p with { Connections = 64, Size = 64, Depth = 16 }),
        new("echo-64c-4k", "echo round trip, 64 connections, 4 KiB", "echo", p => p with { Connections = 64, Size = 4096, Depth = 1 }),
        new("echo-1024c-64b", "echo round trip, 1024 connections, 64 B", "echo", p => p with { Connections = 1024, Size = 64, Depth = 1 }),
        new("echo-64c-open-half", "echo open model at half of EpollServer's headline rate, 64 connections, 64 B", "echo",
            p => p with { Connections = 64, Size = 64 }) { AtHalfHeadlineRate = true },
        new("churn-16", "connect/echo/close churn, 16 slots", "churn", p => p with { Connections = 16 }),
        new("idle-10k", "10,000 idle connections: server memory and fds", "idle", p => p with { Connections = 10_000, ConnectTimeout = TimeSpan.FromSeconds(60) }),
        new("line-64c", "line protocol, 64 connections, 64 B lines", "line", p => p with { Connections = 64, Size = 64, Depth = 1 }),
        new("reverse-64c", "reverse, 64 connections, 64 B lines", "reverse", p => p with { Connections = 64, Size = 64, Depth = 1 }),
        ChatFanout,
        .. Http,
    ];

    public static readonly IReadOnlyList<BenchCase> Quick = [Headline];

    public static readonly IReadOnlyList<BenchCase> Backplane = [ChatFanout];

    // The servers the backplane suite compares when --servers is not given.
    public static readonly IReadOnlyList<string> BackplaneServers = [Peers.EpollServer, "epollserver-redis"];

    public static readonly IReadOnlyList<BenchCase> Scaling =
    [
        Headline,
        new("echo-256c-64b-pipelined", "echo pipelined, 256 connections x 16 in flight, 64 B", "echo", p => p with { Connections = 256, Size = 64, Depth = 16 }),
        ChatFanout,
    ];

    public static IReadOnlyList<BenchCase> Named(string suite, string? only)
    {
        IReadOnlyList<BenchCase> cases = suite switch
        {
            "quick" => Quick,
            "full" => Full,
            "scaling" => Scaling,
            "http" => Http,
            "backplane" => Backplane,
            _ => throw new ArgumentException($"unknown suite '{suite}' (quick, full, scaling, http or backplane)"),
        };
        if (string.IsNullOrEmpty(only))
            return cases;
        var ids = only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var known = Full.Concat(Scaling).DistinctBy(c => c.Id).ToList();
        var unknown = ids.Where(id => known.All(c => c.Id != id)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown case {string.Join(", ", unknown)}; known: {string.Join(", ", known.Select(c => c.Id))}");
        return known.Where(c => ids.Contains(c.Id)).ToList();
    }
}
