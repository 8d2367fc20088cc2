// The admin endpoint (--admin-port): every route through curl on one kept connection, /metrics passing promtool,
// /readyz turning 503 as a graceful stop begins, /healthz turning 503 for a reactor blocked on purpose and 200
// again once it runs, and `epollserver stats` reading /stats from a real daemon.
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
        public Watched(TestServer main, TimeSpan? stuckAfter = null)
        {
            Main = main;
            var options = new ServerOptions { Address = "127.0.0.1", Port = 0, Reactors = "1" };
            Admin = new Server(options, () => new AdminHttpHandler(main.Server, new StatsReporter(main.Server, main.Log), stuckAfter), main.Log);
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

    [Fact]
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

        string said = ExternalTool.Run(Promtool(), ["check", "metrics"], "promtool check metrics refused /metrics", input: metrics.Text);
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

    // scripts/test puts promtool (from Debian's prometheus package, the binary alone) where PROMTOOL says.
    private static string Promtool() =>
        Environment.GetEnvironmentVariable("PROMTOOL") is { Length: > 0 } path && File.Exists(path) ? path
        : LoadTests.Bench.PeerFiles.FindUpwards(Path.Combine(".tools", "promtool")) is { } fetched ? fetched
        : File.Exists("/usr/bin/promtool") ? "/usr/bin/promtool"
        : throw new Xunit.Sdk.XunitException("promtool is needed to check /metrics: run the suite with scripts/test (it fetches it), or apt-get install prometheus");
}
