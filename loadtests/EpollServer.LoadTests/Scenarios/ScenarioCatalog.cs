// The scenarios `epollserver-load run NAME` knows: which protocol the server must speak, and how the load is made.
using EpollServer.LoadTests.Engine;

namespace EpollServer.LoadTests.Scenarios;

internal delegate RunResult ScenarioRunner(LoadPlan plan, string server, Action<RunProgress>? progress);

internal sealed record Scenario(string Name, string Protocol, string Summary, ScenarioRunner Run);

internal static class ScenarioCatalog
{
    public static readonly IReadOnlyList<Scenario> All =
    [
        new("echo", "echo", "round trips of --size bytes on --connections; --depth N pipelines, --rate R is the open model",
            RequestReply("echo", MessageFormat.Echo)),
        new("line", "line", "the same against the line protocol (each request is one line)", RequestReply("line", MessageFormat.Echo)),
        new("reverse", "reverse", "lines reversed by the server, every reply checked", RequestReply("reverse", MessageFormat.Reverse)),
        new("chat", "chat", "fan-out: one sender, --connections receivers; --depth is how far ahead of the slowest receiver the sender may run",
            RunChatFanout),
        new("churn", "echo", "connect, one echo, close, again, on --connections slots; the server's fds must return to baseline",
            Churn),
        new("idle", "echo", "--connections idle connections: the server's RSS per connection, fds from /proc and lsof", Idle),
        new("plaintext", "http", "GET /plaintext driven by wrk: --connections, --threads wrk threads, --depth N pipelines N per write",
            (plan, server, progress) => new WrkRun(plan, "/plaintext") { Progress = progress }.Execute("plaintext", server)),
    ];

    public static Scenario Find(string name) =>
        All.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"unknown scenario '{name}'; known: {string.Join(", ", All.Select(s => s.Name))}");

    private static ScenarioRunner RequestReply(string name, Func<int, MessageFormat> format) => (plan, server, progress) =>
    {
        MessageFormat messages = format(plan.Size);
        var run = new TimedRun(plan)
        {
            Progress = progress,
            OnBegin = plan.OpenModel ? loop => StartPacer(loop, plan, loop.Clients, (client, at) => ((RequestReplyClient)client).Issue(at)) : null,
        };
        int depth = plan.OpenModel ? 0 : plan.Depth;
        int maxOutstanding = plan.OpenModel ? plan.MaxOutstanding : plan.Depth;
        return run.Execute(name, server, (loop, _) => new RequestReplyClient(loop, messages, depth, maxOutstanding));
    };

    // The open model: a loop that never sleeps (busy-polling for ever), whose pacer issues this loop's share of the
    // rate after every batch, so that requests leave within microseconds of their intended time.
    private static void StartPacer(ClientLoop loop, LoadPlan plan, IReadOnlyList<LoadClient> clients, Func<LoadClient, long, bool> issue)
    {
        loop.Loop.BusyPoll = Timeout.InfiniteTimeSpan;
        var pacer = new OpenModelPacer(loop, plan.Rate / Math.Max(1, plan.Threads), plan.RampUp, clients, issue);
        loop.AddAfterBatch(pacer.Run);
    }

    // All chat clients share one loop: the delivery counts then need no sharing between threads.
    private static RunResult RunChatFanout(LoadPlan plan, string server, Action<RunProgress>? progress)
    {
        int receivers = plan.Connections;
        var fanout = new ChatFanout(receivers, Math.Max(1, plan.Depth));
        LoadPlan chatPlan = plan with { Connections = receivers + 1, Threads = 1 };
        ChatSender? sender = null;
        var run = new TimedRun(chatPlan)
        {
            Progress = progress,
            OnBegin = loop =>
            {
                if (plan.OpenModel)
                    StartPacer(loop, chatPlan, [sender!], (client, at) => ((ChatSender)client).Send(at));
                else
                    sender!.Start();
            },
        };
        RunResult result = run.Execute("chat", server, (loop, i) =>
            i < receivers ? new ChatReceiver(loop, fanout, plan.ReceiverTarget) : sender = new ChatSender(loop, fanout, plan.Size, plan.OpenModel));
        result.Figures.Add(("receivers", receivers.ToString()));
        result.Figures.Add(("messages sent", sender!.Sent.ToString()));
        result.Figures.Add(("messages delivered to every receiver", fanout.FullyDelivered.ToString()));
        return result;
    }

    private static RunResult Churn(LoadPlan plan, string server, Action<RunProgress>? progress)
    {
        var run = new TimedRun(plan) { Progress = progress };
        RunResult result = run.Execute("churn", server, (loop, _) => new ChurnClient(loop));
        if (plan.ServerPid is int pid && result.ServerBefore is { } before)
        {
            ProcessSample? after = ProcessProbe.WaitForFds(pid, before.Fds, TimeSpan.FromSeconds(5));
            result.Figures.Add(("server fds before / after (/proc)", $"{before.Fds} / {after?.Fds.ToString() ?? "gone"}"));
            result.Checks.Add(new RunCheck("fds back to baseline", after is { } a && a.Fds <= before.Fds, $"{before.Fds} -> {after?.Fds}"));
        }
        return result;
    }

    private static RunResult Idle(LoadPlan plan, string server, Action<RunProgress>? progress) =>
        new IdleRun(plan) { Progress = progress }.Execute(server);
}
