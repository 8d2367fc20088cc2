// `--protocol http` over real sockets, on one reactor and on three: the benchmark routes with their headers, keep-
// alive, 100 pipelined requests answered in order, HEAD, 405, HTTP/1.0 and Connection: close, the request-smuggling
// framings refused with 400 or 501 and a close, the size limits with their statuses, and hostile input from a fixed
// seed (mutated exchanges, heads split at every byte, 10 MB without a line end): the server gives the answers an
// independent statement of the rules (HttpReferenceJudge) calls for, ends with a FIN (never a reset), and serves the
// next client. Each rule on its own, in one write and byte by byte: HttpRequestRulesTests.
using System.Text;
using EpollServer.Protocols.Http;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class HttpProtocolTests
{
    private static TestServer Start(int reactors) => new(reactors: reactors, handlers: () => new BenchmarkHttpHandler());

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void Routes_AnswerWithTheirBodyAndHeaders_OnOneKeptConnection(int reactors)
    {
        using TestServer server = Start(reactors);
        using var http = HttpClientConnection.Connect(server.Port);
        http.Send(HttpClientConnection.Get("/plaintext"));
        HttpResponse plaintext = http.Read()!;
        Assert.Equal(200, plaintext.Status);
        Assert.Equal("Hello, World!", plaintext.Text);
        Assert.Equal("text/plain", plaintext.Header("Content-Type"));
        Assert.Equal("13", plaintext.Header("Content-Length"));
        Assert.Equal("epollserver", plaintext.Header("Server"));
        DateTime date = DateTime.ParseExact(plaintext.Header("Date"), "r", System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(date, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(1));

        http.Send(HttpClientConnection.Get("/json"));
        HttpResponse json = http.Read()!;
        Assert.Equal((200, "{\"message\":\"Hello, World!\"}", "application/json"), (json.Status, json.Text, json.Header("Content-Type")));

        http.Send(HttpClientConnection.Get("/nowhere?x=1"));
        Assert.Equal(404, http.Read()!.Status);
        http.Send(HttpClientConnection.Get("/plaintext", method: "HEAD"));
        HttpResponse head = http.Read(head: true)!;
        Assert.Equal((200, "13", 0), (head.Status, head.Header("Content-Length"), head.Body.Length));
        http.Send("POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
        HttpResponse post = http.Read()!;
        Assert.Equal((405, "GET, HEAD"), (post.Status, post.Header("Allow")));
        http.Send(HttpClientConnection.Get("/plaintext"));   // the body was skipped: the next request is framed right
        Assert.Equal("Hello, World!", http.Read()!.Text);
        Assert.Equal(6, server.Server.Read(EpollServer.Diagnostics.Counter.Messages));
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void AHundredPipelinedRequests_AreAnsweredInOrder(int reactors)
    {
        using TestServer server = Start(reactors);
        using var http = HttpClientConnection.Connect(server.Port);
        string[] paths = [.. Enumerable.Range(0, 100).Select(i => (i % 3) switch { 0 => "/plaintext", 1 => "/json", _ => $"/missing/{i}" })];
        http.Send(string.Concat(paths.Select(p => HttpClientConnection.Get(p))));
        foreach (string path in paths)
        {
            HttpResponse response = http.Read()!;
            (int status, string body) = path switch
            {
                "/plaintext" => (200, "Hello, World!"),
                "/json" => (200, "{\"message\":\"Hello, World!\"}"),
                _ => (404, "not found\n"),
            };
            Assert.Equal((status, body), (response.Status, response.Text));
        }
    }

    [Theory]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, CLOSE\r\n\r\n")]
    [InlineData("GET /plaintext HTTP/1.0\r\n\r\n")]
    public void ARequestThatEndsTheConnection_IsAnswered_AndNothingAfterItIs(string request)
    {
        using TestServer server = Start(1);
        using var http = HttpClientConnection.Connect(server.Port);
        http.Send(request + HttpClientConnection.Get("/json"));
        HttpResponse response = http.Read()!;
        Assert.Equal((200, "Hello, World!", "close"), (response.Status, response.Text, response.Header("Connection")));
        Assert.Equal(ConnectionEnd.Fin, http.WaitForEnd());   // an orderly close after the answer: no second one, no reset
    }

    [Fact]
    public void Http10_WithKeepAlive_IsKept()
    {
        using TestServer server = Start(1);
        using var http = HttpClientConnection.Connect(server.Port);
        http.Send("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + HttpClientConnection.Get("/json"));
        Assert.Equal(200, http.Read()!.Status);
        Assert.Equal("{\"message\":\"Hello, World!\"}", http.Read()!.Text);
    }

    // The framings that a proxy and this server could read two ways, and the limits: each answered with its
    // status and a close, and the request's bytes never served.
    [Theory]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 400)]
    [InlineData("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 501)]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400)]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 2097152\r\n\r\n", 413)]
    [InlineData("GET / HTTP/1.1\r\nContent Length: 3\r\n\r\nabc", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 400)]
    [InlineData("GET / HTTP/2.0\r\n\r\n", 505)]
    [InlineData("GET / FTP/1.0\r\n\r\n", 400)]
    [InlineData("GET\r\n\r\n", 400)]
    [InlineData("G(T / HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET nopath HTTP/1.1\r\n\r\n", 400)]
    public void AHostileOrAmbiguousHead_GetsItsStatus_AndTheConnectionCloses(string request, int status)
    {
        using TestServer server = Start(1);
        using var http = HttpClientConnection.Connect(server.Port);
        http.Send(request + HttpClientConnection.Get("/plaintext"));
        HttpResponse response = http.Read()!;
        Assert.Equal((status, "close"), (response.Status, response.Header("Connection")));
        Assert.Equal(ConnectionEnd.Fin, http.WaitForEnd());   // the request after it unanswered, the close orderly
        Assert.Equal(1, server.HandlerCounter("requests-refused"));
        AssertServesAFreshClient(server);
    }

    [Fact]
    public void TheSameContentLengthTwice_IsOneLength()
    {
        using TestServer server = Start(1);
        using var http = HttpClientConnection.Connect(server.Port);
        http.Send("GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc" + HttpClientConnection.Get("/json"));
        Assert.Equal("Hello, World!", http.Read()!.Text);
        Assert.Equal("{\"message\":\"Hello, World!\"}", http.Read()!.Text);
    }

    [Theory]
    [InlineData(HttpHandler.MaxRequestLine + 10, 0, 414)]
    [InlineData(100, HttpHandler.MaxHead + 10, 431)]
    public void AnOversizedLineOrHead_IsRefusedWithItsStatus(int pathLength, int headerLength, int status)
    {
        using TestServer server = Start(1);
        using var http = HttpClientConnection.Connect(server.Port);
        string header = headerLength > 0 ? $"X-Big: {new string('h', headerLength)}\r\n" : "";
        http.Send(HttpClientConnection.Get("/" + new string('p', pathLength), header));
        HttpResponse response = http.Read()!;
        Assert.Equal((status, "close"), (response.Status, response.Header("Connection")));
        Assert.Equal(ConnectionEnd.Fin, http.WaitForEnd());
        AssertServesAFreshClient(server);
    }

    // The answer is read while the flood is still being sent, so it is in this side's buffer before anything could
    // reset the connection; the flood stops there and the client sends its FIN. The server lingers (a minute here,
    // so its timer cannot end the wait on a slow machine) reading and dropping the rest until that FIN, then closes:
    // an orderly FIN, never a reset. The server framed no more than its 16 KiB input ring of the flood before it
    // refused it: everything else it read was dropped by the lingering close.
    [Fact]
    public void TenMegabytesWithoutALineEnd_AreRefusedLongBeforeTheirEnd()
    {
        using var server = new TestServer(reactors: 1, handlers: () => new BenchmarkHttpHandler(), configure: o => o.LingerTimeout = TimeSpan.FromMinutes(1));
        using var http = HttpClientConnection.Connect(server.Port);
        var answer = Task.Run(() => http.Read());
        http.Send("GET / HTTP/1.1\r\nX-Flood: ");
        var flood = new byte[64 * 1024];
        Array.Fill(flood, (byte)'a');
        for (int sent = 0; sent < 10 << 20 && !answer.IsCompleted; sent += flood.Length)
            http.Send(flood);
        Assert.True(answer.Wait(TestClient.TimeoutMs), "no answer to the flood");
        http.Client.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        HttpResponse? refused = answer.Result;
        Assert.True(refused is not null, $"the connection ended ({http.End}) without the 431");
        Assert.Equal((431, "close", "request head too long\n"), (refused.Status, refused.Header("Connection"), refused.Text));
        Assert.Equal(ConnectionEnd.Fin, http.WaitForEnd());
        server.WaitUntil(s => s.OpenConnections == 0, "the lingering close ended at the client's FIN");
        Assert.Equal(1, server.HandlerCounter("requests-refused"));
        Diagnostics.ServerStats stats = server.Server.Stats;
        long framed = stats[Diagnostics.Counter.BytesReceived] - stats[Diagnostics.Counter.BytesDiscarded];
        Assert.True(framed <= 16 * 1024, $"the server read {framed} bytes of the flood as request before refusing it");
        AssertServesAFreshClient(server);
    }

    // A valid request sent one byte at a time is answered exactly once, whatever the split.
    [Fact]
    public void AHeadSplitAtEveryByte_IsAnsweredOnce()
    {
        using TestServer server = Start(1);
        using var http = HttpClientConnection.Connect(server.Port);
        byte[] request = Encoding.ASCII.GetBytes(HttpClientConnection.Get("/json", "Accept: */*\r\nX-A: b\r\n"));
        foreach (byte b in request)
            http.Send([b]);
        Assert.Equal("{\"message\":\"Hello, World!\"}", http.Read()!.Text);
        http.Send(HttpClientConnection.Get("/plaintext"));
        Assert.Equal("Hello, World!", http.Read()!.Text);
    }

    // Random mutations of valid pipelined exchanges (CRLF and bare-LF heads, a chunked body, an absolute-form target,
    // OPTIONS *, HTTP/1.0 keep-alive, a 100-continue body), from a fixed seed. What each mutated stream must get is
    // decided by HttpReferenceJudge, a separate statement of the rules on strings that shares no code with the parser:
    // the answers in order (100 Continue, 200/404, 405, or the refusal's status with Connection: close), nothing for a
    // request whose head or body never ends. Then the server ends the connection with a FIN (the client has sent its
    // own), and the next client is served.
    [Fact]
    public void RandomHostileInput_FromAFixedSeed_GetsTheAnswersTheRulesCallFor()
    {
        using TestServer server = Start(3);
        var random = new Random(18_2026);
        int[] kinds = new int[2];
        for (int round = 0; round < 200; round++)
        {
            byte[] input = Mutate(random, Exchanges[random.Next(Exchanges.Length)]);
            List<HttpReferenceJudge.Answer> expected = HttpReferenceJudge.AnswersTo(input);
            kinds[expected.Any(a => a.Status >= 400 && a.Closes) ? 1 : 0]++;
            string context = $"round {round}: input {Convert.ToHexString(input)} ({Encoding.Latin1.GetString(input).ReplaceLineEndings("|")})";
            using (var http = HttpClientConnection.Connect(server.Port))
            {
                http.Send(input);
                http.Client.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);   // the server answers what it can, then closes
                foreach (HttpReferenceJudge.Answer answer in expected)
                {
                    HttpResponse? response = http.Read(head: answer.Head);
                    Assert.True(response is not null, $"{context}: expected {answer.Status}, the connection ended ({http.End})");
                    Assert.True((answer.Status, answer.Closes) == (response.Status, response.Header("Connection") == "close"),
                        $"{context}: expected {answer.Status}{(answer.Closes ? " and close" : "")}, got {response.Status} Connection: {response.Header("Connection")}");
                }
                ConnectionEnd end = http.WaitForEnd();
                Assert.True(end == ConnectionEnd.Fin, $"{context}: after {expected.Count} answers expected a FIN, got {end}");
            }
            AssertServesAFreshClient(server);
        }
        Assert.True(kinds[0] > 20 && kinds[1] > 20, $"the seed made {kinds[0]} rounds without a refusal and {kinds[1]} with one: both kinds are needed");
    }

    private static readonly byte[][] Exchanges =
    [
        .. new[]
        {
            HttpClientConnection.Get("/plaintext") + HttpClientConnection.Get("/json"),
            "GET /plaintext HTTP/1.1\nHost: t\n\nHEAD /json HTTP/1.1\nHost: t\nConnection: keep-alive\n\n",
            "POST /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n" + HttpClientConnection.Get("/json"),
            "GET http://a.example:80/json?q HTTP/1.1\r\nHost: [::1]:80\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: x\r\n\r\n",
            "\r\nGET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\nPUT /json HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc" +
                HttpClientConnection.Get("/plaintext"),
        }.Select(Encoding.ASCII.GetBytes),
    ];

    // The bytes that decide framing and syntax, for mutations that land on them more often than random bytes would.
    private static readonly byte[] Decisive = "\r\n\0 \t:;,0a\u007f\u001b/*@[]%"u8.ToArray();

    private static byte[] Mutate(Random random, byte[] valid)
    {
        List<byte> input = [.. valid];
        int changes = random.Next(1, 4);
        for (int i = 0; i < changes && input.Count > 0; i++)
        {
            int at = random.Next(input.Count);
            switch (random.Next(6))
            {
                case 0:
                    input[at] = (byte)random.Next(256);
                    break;
                case 1:
                case 2:
                    input[at] = Decisive[random.Next(Decisive.Length)];
                    break;
                case 3:
                    input.Insert(at, Decisive[random.Next(Decisive.Length)]);
                    break;
                case 4:
                    input.RemoveAt(at);
                    break;
                default:
                    input.RemoveRange(at, input.Count - at);   // cut short: an incomplete head or body waits for EOF
                    break;
            }
        }
        return random.Next(10) == 0 ? [.. valid] : [.. input];
    }

    // A client nobody here wrote: wrk, for 2 seconds on 16 connections, against the daemon itself.
    [Fact]
    public void Wrk_ForTwoSeconds_GetsOnly200s_AndNoSocketErrors()
    {
        using var daemon = DaemonProcess.Start("--protocol http --address 127.0.0.1 --port 0");
        string output = ExternalTool.Run("wrk", ["-t1", "-c16", "-d2s", "--timeout", "5s", $"http://127.0.0.1:{daemon.Port}/plaintext"],
            "wrk failed (apt-get install wrk; scripts/test installs it)");
        long requests = long.Parse(System.Text.RegularExpressions.Regex.Match(output, @"(\d+) requests in").Groups[1].Value);
        Assert.True(requests > 1000, output);
        Assert.DoesNotContain("Non-2xx", output);
        Assert.DoesNotContain("Socket errors", output);
        daemon.Signal(DaemonProcess.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit());
    }

    private static void AssertServesAFreshClient(TestServer server)
    {
        using var fresh = HttpClientConnection.Connect(server.Port);
        fresh.Send(HttpClientConnection.Get("/plaintext"));
        Assert.Equal("Hello, World!", fresh.Read()!.Text);
    }
}
