// The admin endpoint (--admin-port): every route through curl on one kept connection, /metrics passing promtool,
// /readyz turning 503 as a graceful stop begins, /healthz turning 503 for a reactor blocked on purpose and 200
// again once it runs, and `epollserver stats` reading /stats from a real daemon. At any size: /metrics and /stats of a
// 200-reactor server (far more than the 64 KiB output ring) answered in full to a slow reader, requests pipelined
// behind them answered after them in order, and an answer whose making throws a 500 on a connection that goes on.
using System.Text.Json;
using EpollServer.Host;
using EpollServer.Protocols;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class AdminEndpointTests
{
    // The watched server and, beside it, its admin endpoint: as the daemon runs them, in this process.
    private sealed class Watched : IDisposable
    {
        // make: the endpoint's handler, when a test replaces what an answer is made of.
        // adminClock: the endpoint's own clock (its idle timeout), when a test moves it.
        public Watched(TestServer main, TimeSpan? stuckAfter = null, Func<Server, StatsReporter, AdminHttpHandler>? make = null,
            TimeProvider? adminClock = null)
        {
            Main = main;
            var options = new ServerOptions { Address = "127.0.0.1", Port = 0, Reactors = "1", IdleTimeout = TimeSpan.FromSeconds(60) };
            make ??= (server, stats) => new AdminHttpHandler(server, stats, stuckAfter);
            Admin = new Server(options, () => make(main.Server, new StatsReporter(main.Server, main.Log)), main.Log, adminClock);
            Admin.Start();
        }

        public TestServer Main { get; }

        public Server Admin { get; }

        public string Url(string path) => $"http://127.0.0.1:{Admin.Port}{path}";

        public void Dispose()
        {
            Admin.Dispose();
            Main.Dispose();
        }
    }

    [Fact]
    public void EveryRoute_AnswersThroughCurl_OnOneKeptConnection()
    {
        using var watched = new Watched(new TestServer(reactors: 2));
        string[] routes = ["/healthz", "/readyz", "/metrics", "/stats"];
        string output = Curl([.. routes.Select(watched.Url), "--write-out", "\n%{http_code} %{num_connects}\n"]);
        string[] codes = [.. output.Split('\n').Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d{3} \d$"))];
        Assert.True(codes.SequenceEqual(["200 1", "200 0", "200 0", "200 0"]), $"four answers on one connection expected; {Heartbeats(watched.Main.Server)}; curl said:\n{output}");
        Assert.Contains("ok\n", output);
        Assert.Contains("ready\n", output);
        Assert.Contains("# TYPE epollserver_connections_open gauge", output);
        Assert.Contains("epollserver_reactor_connections{", output);

        using var http = HttpClientConnection.Connect(watched.Admin.Port);
        http.Send(HttpClientConnection.Get("/stats"));
        HttpResponse stats = http.Read()!;
        Assert.Equal("application/json", stats.Header("Content-Type"));
        using JsonDocument json = JsonDocument.Parse(stats.Body);
        Assert.Equal(Environment.ProcessId, json.RootElement.GetProperty("pid").GetInt32());
        Assert.Equal(2, json.RootElement.GetProperty("reactors").GetArrayLength());
        http.Send(HttpClientConnection.Get("/nowhere"));
        Assert.Equal(404, http.Read()!.Status);
    }

    [ToolFact("promtool")]
    public void Metrics_CountWhatTheServerDid_AndPassPromtool()
    {
        using var watched = new Watched(new TestServer(reactors: 2));
        using (var client = TestClient.Connect(watched.Main.Port))
            Assert.True(client.EchoesProbe(Patterns.For(3, 1000)));
        watched.Main.WaitUntil(s => s.OpenConnections == 0, "the client's connection is closed");
        using var http = HttpClientConnection.Connect(watched.Admin.Port);
        http.Send(HttpClientConnection.Get("/metrics"));
        HttpResponse metrics = http.Read()!;
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", metrics.Header("Content-Type"));
        Assert.Contains("epollserver_connections_accepted_total{epollserver_port=\"" + watched.Main.Port + "\",epollserver_protocol=\"echo\"} 1\n", metrics.Text);
        Assert.Contains("epollserver_bytes_received_total{epollserver_port=\"" + watched.Main.Port + "\",epollserver_protocol=\"echo\"} 1000\n", metrics.Text);
        Assert.Matches("epollserver_reactor_connections\\{[^}]*reactor=\"1\"\\} 0\n", metrics.Text);

        PassesPromtool(metrics.Text);
    }

    // 200 reactors: idle threads, so as many as a large machine's daemon has, even on a 2-core one.
    private const int ManyReactors = 200;

    [Fact]
    public void MetricsAndStats_OfTwoHundredReactors_AnswerInFull_AndParse()
    {
        using var watched = new Watched(new TestServer(reactors: ManyReactors));
        using var http = HttpClientConnection.Connect(watched.Admin.Port);
        http.Send(HttpClientConnection.Get("/metrics"));
        HttpResponse metrics = Answer(http);
        Assert.Equal(200, metrics.Status);
        Assert.True(metrics.Body.Length > watched.Admin.Options.OutputBufferSize,
            $"/metrics is {metrics.Body.Length} bytes, not more than the output ring: this does not test the large path");
        string[] lines = metrics.Text.TrimEnd('\n').Split('\n');
        string[] unparsed = [.. lines.Where(l => !ExpositionLine.IsMatch(l))];
        Assert.True(unparsed.Length == 0, $"{unparsed.Length} of {lines.Length} lines are not exposition lines, e.g. '{unparsed.FirstOrDefault()}'");
        Assert.Matches($"epollserver_reactor_connections\\{{[^}}]*reactor=\"{ManyReactors - 1}\"\\}} 0\n", metrics.Text);

        http.Send(HttpClientConnection.Get("/stats"));
        HttpResponse stats = Answer(http);
        using JsonDocument json = JsonDocument.Parse(stats.Body);
        Assert.Equal(ManyReactors, json.RootElement.GetProperty("reactors").GetArrayLength());
    }

    // A comment (# HELP, # TYPE) or a sample: a name, labels in braces, a number.
    private static readonly System.Text.RegularExpressions.Regex ExpositionLine =
        new(@"^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*=""([^""\\]|\\.)*"",?)*\})? -?[0-9.eE+-]+|.* (NaN|[+-]Inf))$");

    [ToolFact("promtool")]
    public void Metrics_OfTwoHundredReactors_PassPromtool()
    {
        using var watched = new Watched(new TestServer(reactors: ManyReactors));
        using var http = HttpClientConnection.Connect(watched.Admin.Port);
        http.Send(HttpClientConnection.Get("/metrics"));
        PassesPromtool(Answer(http).Text);
    }

    // The reader takes 512 bytes at a time through a 4 KiB receive buffer: the answer leaves the endpoint in pieces,
    // each as the last has been read, and arrives whole.
    [Fact]
    public void SlowReader_OfALargeAnswer_GetsAllOfIt()
    {
        using var watched = new Watched(new TestServer(reactors: ManyReactors));
        using var client = TestClient.Connect(watched.Admin.Port, receiveBuffer: 4096);
        client.Send(HttpClientConnection.Get("/metrics"));
        var received = new List<byte>();
        var piece = new byte[512];
        int headEnd = -1, length = -1;
        while (headEnd < 0 || received.Count < headEnd + length)
        {
            int n = client.Socket.Receive(piece);
            Assert.True(n > 0, $"the answer ended after {received.Count} bytes (head {headEnd}, Content-Length {length})");
            received.AddRange(piece.AsSpan(0, n));
            if (headEnd < 0 && (headEnd = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(received).IndexOf("\r\n\r\n"u8)) >= 0)
            {
                headEnd += 4;
                string head = System.Text.Encoding.ASCII.GetString([.. received.Take(headEnd)]);
                length = int.Parse(System.Text.RegularExpressions.Regex.Match(head, @"Content-Length: (\d+)").Groups[1].Value);
            }
        }
        Assert.Equal(headEnd + length, received.Count);
        Assert.True(length > watched.Admin.Options.OutputBufferSize, $"only {length} bytes: not larger than the output ring");
        string body = System.Text.Encoding.UTF8.GetString([.. received.Skip(headEnd)]);
        Assert.EndsWith("\n", body);
        Assert.Contains($"reactor=\"{ManyReactors - 1}\"", body);
    }

    // A peer that asks for a large answer and never reads holds the endpoint's connection only until its idle
    // timeout (60 s, as the daemon sets it), on the endpoint's clock, which the test moves. The answer (16 MiB, through
    // the RenderMetrics seam) is far more than the kernel's socket buffers hold, so the endpoint is left owing.
    [Fact]
    public void PeerThatNeverReadsALargeAnswer_IsClosedByTheIdleTimeout()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        string huge = new('x', 16 << 20);
        using var watched = new Watched(new TestServer(), make: (server, stats) => new AdminHttpHandler(server, stats) { RenderMetrics = _ => huge },
            adminClock: clock);
        using var deaf = TestClient.Connect(watched.Admin.Port, receiveBuffer: 4096);
        deaf.Send(HttpClientConnection.Get("/metrics"));
        Wait.Until(() => watched.Admin.Stats[Diagnostics.Counter.SendWouldBlock] > 0, "the endpoint's sends stalled against the deaf peer");
        AdvanceAdmin(watched, clock, TimeSpan.FromSeconds(59));
        Assert.Equal(1, watched.Admin.OpenConnections);
        AdvanceAdmin(watched, clock, TimeSpan.FromSeconds(1));
        Wait.Until(() => watched.Admin.OpenConnections == 0, "the deaf peer's connection is closed");
        Assert.Equal(1, watched.Admin.Stats[Diagnostics.Counter.IdleTimeouts]);
    }

    private static void AdvanceAdmin(Watched watched, Microsoft.Extensions.Time.Testing.FakeTimeProvider clock, TimeSpan by)
    {
        clock.Advance(by);
        Assert.True(watched.Admin.AfterDueTimersAsync().Wait(TimeSpan.FromSeconds(30)), "the endpoint's loop did not run its due timers");
    }

    [Fact]
    public void RequestsPipelinedBehindALargeAnswer_AreAnsweredAfterIt_InOrder()
    {
        using var watched = new Watched(new TestServer(reactors: ManyReactors));
        using var http = HttpClientConnection.Connect(watched.Admin.Port);
        http.Send(HttpClientConnection.Get("/metrics") + HttpClientConnection.Get("/healthz") + HttpClientConnection.Get("/stats")
            + HttpClientConnection.Get("/readyz"));
        HttpResponse metrics = Answer(http);
        Assert.Equal((200, "text/plain; version=0.0.4; charset=utf-8"), (metrics.Status, metrics.Header("Content-Type")));
        Assert.True(metrics.Body.Length > watched.Admin.Options.OutputBufferSize, $"/metrics is only {metrics.Body.Length} bytes");
        HttpResponse health = Answer(http);
        Assert.Equal((200, "ok\n"), (health.Status, health.Text));
        HttpResponse stats = Answer(http);
        Assert.Equal((200, "application/json"), (stats.Status, stats.Header("Content-Type")));
        using (JsonDocument json = JsonDocument.Parse(stats.Body))
            Assert.Equal(ManyReactors, json.RootElement.GetProperty("reactors").GetArrayLength());
        HttpResponse ready = Answer(http);
        Assert.Equal((200, "ready\n"), (ready.Status, ready.Text));
    }

    // Any HttpHandler, not only the admin endpoint: an answer made on the loop and larger than the output ring goes out
    // whole, keep-alive answers one after the other, and `Connection: close` closes only after the last piece.
    [Fact]
    public void AnswerLargerThanTheRing_MadeOnTheLoop_IsStreamedWhole_AndCloseWaitsForItsEnd()
    {
        byte[] body = Patterns.For(25, 300_000);
        using var server = new TestServer(new FixedAnswer(body));
        using var http = HttpClientConnection.Connect(server.Port);
        http.Send(HttpClientConnection.Get("/a") + HttpClientConnection.Get("/b") + HttpClientConnection.Get("/c", "Connection: close\r\n"));
        for (int i = 0; i < 3; i++)
        {
            HttpResponse answer = Answer(http);
            Assert.True(body.AsSpan().SequenceEqual(answer.Body), $"answer {i}: {answer.Body.Length} bytes, not the {body.Length} made");
        }
        Assert.Equal(ConnectionEnd.Fin, http.WaitForEnd());
    }

    private sealed class FixedAnswer(byte[] body) : Protocols.Http.HttpHandler
    {
        public override string Name => "fixed";

        protected override Protocols.Http.HttpAnswer Answer(Net.Connection connection, in Protocols.Http.HttpRequestHead request) =>
            new(200, "application/octet-stream"u8, body);
    }

    // The failure is injected where the answer is made (RenderMetrics, MakeStats: internal seams, not public API).
    [Theory]
    [InlineData("/metrics")]
    [InlineData("/stats")]
    public void AnswerWhoseMakingThrows_Is500AndLogged_TheConnectionGoesOn(string path)
    {
        var main = new TestServer();
        using var watched = new Watched(main, make: (server, stats) => new AdminHttpHandler(server, stats)
        {
            RenderMetrics = _ => throw new FormatException("injected: metrics"),
            MakeStats = () => throw new ArgumentException("injected: stats"),
        });
        using var http = HttpClientConnection.Connect(watched.Admin.Port);
        http.Send(HttpClientConnection.Get(path) + HttpClientConnection.Get("/healthz"));
        HttpResponse failed = Answer(http);
        Assert.Equal(500, failed.Status);
        HttpResponse health = Answer(http);
        Assert.Equal((200, "ok\n"), (health.Status, health.Text));
        Assert.Contains(main.Log.Lines, l => l.Contains("building the answer failed", StringComparison.Ordinal) && l.Contains("injected", StringComparison.Ordinal));
        http.Send(HttpClientConnection.Get(path));
        Assert.Equal(500, Answer(http).Status);
    }

    // The next answer, or a failure saying the endpoint ended the connection without one.
    private static HttpResponse Answer(HttpClientConnection http) =>
        http.Read() ?? throw new Xunit.Sdk.XunitException($"the endpoint ended the connection ({http.End}) without answering");

    private static void PassesPromtool(string exposition)
    {
        string said = ExternalTool.Run(Tools.Require("promtool"), ["check", "metrics"], "promtool check metrics refused /metrics", input: exposition);
        Assert.True(said.Trim().Length == 0, $"promtool check metrics: {said}");
    }

    [Fact]
    public void Readyz_Turns503_AsAGracefulStopBegins()
    {
        var main = new TestServer(handlers: () => new LineEchoHandler(100), configure: o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
        using var watched = new Watched(main);
        using var http = HttpClientConnection.Connect(watched.Admin.Port);
        http.Send(HttpClientConnection.Get("/readyz"));
        Assert.Equal(200, http.Read()!.Status);

        using var client = TestClient.Connect(main.Port);
        client.Send("half a line");   // a request begun: the drain waits for its end
        main.WaitUntil(s => s.Stats[Diagnostics.Counter.BytesReceived] == 11, "the half line arrived");
        main.Server.Stop();
        http.Send(HttpClientConnection.Get("/readyz"));
        HttpResponse stopping = http.Read()!;
        Assert.Equal((503, "stopping\n"), (stopping.Status, stopping.Text));
        Assert.False(main.Server.Completion.IsCompleted);   // still draining: the endpoint said so before the end
        client.Send(" ends\n");
        Assert.Equal("half a line ends", client.ReadLine());
        Assert.True(main.Server.Completion.Wait(20_000));
    }

    // On the watched server's clock, which the test moves: reactor 0 is known to have run its heartbeat (a post
    // behind it has run) before the clock passes the limit, so only the blocked reactor can be named, however slow
    // this machine; and before the clock moves, the blocked reactor is not yet past the limit.
    [Fact]
    public void Healthz_NamesAReactorBlockedOnPurpose_AndRecoversWhenItRuns()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var watched = new Watched(new TestServer(reactors: 2, clock: clock), stuckAfter: TimeSpan.FromMilliseconds(300));
        Server main = watched.Main.Server;
        using var http = HttpClientConnection.Connect(watched.Admin.Port);
        using var release = new ManualResetEventSlim();
        try
        {
            main.Reactors[1].Context.Loop.Post(() => release.Wait(TimeSpan.FromSeconds(60)));   // a handler that hangs its loop
            main.PostHeartbeats();
            RunsItsPosts(main.Reactors[0]);
            HttpResponse early = Healthz(http);
            Assert.Equal((200, "ok\n"), (early.Status, early.Text));   // blocked, but not for 300 ms yet
            clock.Advance(TimeSpan.FromMilliseconds(301));
            HttpResponse answer = Healthz(http);
            Assert.True((answer.Status, answer.Text) == (503, "reactor 1 has not turned its loop for more than 0.3 s\n"),
                $"/healthz said {answer.Status} {answer.Text.Trim()}; {Heartbeats(main)}");
        }
        finally
        {
            release.Set();
        }
        RunsItsPosts(main.Reactors[1]);   // the heartbeat queued before this post has run
        Assert.Equal(200, Healthz(http).Status);
    }

    // The watched server's heartbeat bookkeeping, for a failure message.
    private static string Heartbeats(Server server)
    {
        long[] Field(string name) => (long[])typeof(Server).GetField(name, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(server)!;
        return $"heartbeats posted [{string.Join(", ", Field("_heartbeatPosted"))}] ran [{string.Join(", ", Field("_heartbeatRan"))}] now {server.Clock.GetTimestamp()}";
    }

    // Returns once everything posted to the reactor so far has run (posts run in order).
    private static void RunsItsPosts(ReactorLoop reactor)
    {
        using var ran = new ManualResetEventSlim();
        reactor.Context.Loop.Post(ran.Set);
        Assert.True(ran.Wait(TestClient.TimeoutMs), $"reactor {reactor.Index} did not run its posts");
    }

    private static HttpResponse Healthz(HttpClientConnection http)
    {
        http.Send(HttpClientConnection.Get("/healthz"));
        return http.Read()!;
    }

    [Fact]
    public void StatsCommand_ReadsTheAdminEndpoint_InsteadOfSignalling()
    {
        // The endpoint runs in this process, so the command's answer must name this process, which it never signals.
        using var watched = new Watched(new TestServer(reactors: 2));
        using var stats = DaemonProcess.Start($"stats --admin-port {watched.Admin.Port} --json", expectListening: false);
        Assert.Equal(0, stats.WaitForExit());
        string output = string.Join('\n', stats.Lines);
        using JsonDocument json = JsonDocument.Parse(output);
        Assert.Equal(Environment.ProcessId, json.RootElement.GetProperty("pid").GetInt32());
        Assert.Equal(watched.Main.Port.ToString(), json.RootElement.GetProperty("endpoints")[0].GetString()!.Split(':')[^1]);
    }

    private static string Curl(string[] arguments) =>
        ExternalTool.Run("curl", ["--silent", "--show-error", "--max-time", "20", .. arguments], "curl failed (apt-get install curl; scripts/test installs it)");
}
