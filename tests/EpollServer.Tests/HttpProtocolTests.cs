// `--protocol http` over real sockets, on one reactor and on three: the benchmark routes with their headers, keep-
// alive, 100 pipelined requests answered in order, HEAD, 405, HTTP/1.0 and Connection: close, the request-smuggling
// framings refused with 400 or 501 and a close, the size limits with their statuses, and hostile input from a fixed
// seed (random bytes, heads split at every byte, NULs, bare CRs, 10 MB without a line end): the server answers with
// the right status or closes, never hangs, and serves the next client.
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
        Assert.True(http.ClosedByServer(), "the connection stayed open, or a second answer came");
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
    [InlineData("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 501)]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400)]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: 2097152\r\n\r\n", 413)]
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
        Assert.True(http.ClosedByServer(), "the connection stayed open, or the request after it was answered");
        Assert.Equal(1, server.HandlerCounter("requests-refused"));
        AssertServesAFreshClient(server);
    }

    [Fact]
    public void TheSameContentLengthTwice_IsOneLength()
    {
        using TestServer server = Start(1);
        using var http = HttpClientConnection.Connect(server.Port);
        http.Send("GET /plaintext HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc" + HttpClientConnection.Get("/json"));
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
        Assert.Equal(status, http.Read()!.Status);
        Assert.True(http.ClosedByServer());
        AssertServesAFreshClient(server);
    }

    [Fact]
    public void TenMegabytesWithoutALineEnd_AreRefusedLongBeforeTheirEnd()
    {
        using TestServer server = Start(1);
        using var http = HttpClientConnection.Connect(server.Port);
        http.Send("GET / HTTP/1.1\r\nX-Flood: ");
        var flood = new byte[64 * 1024];
        Array.Fill(flood, (byte)'a');
        try
        {
            for (int sent = 0; sent < 10 << 20; sent += flood.Length)
                http.Send(flood);
        }
        catch (System.Net.Sockets.SocketException)
        {
            // the server closed (and reset what it had not read): the refusal came before the flood's end
        }
        Assert.Equal(431, http.Read()?.Status ?? 431);   // a reset may have destroyed the answer in flight
        server.WaitUntil(_ => server.HandlerCounter("requests-refused") == 1, "the flood was refused as a head too long");
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

    // Random mutations of a valid pipelined exchange, from a fixed seed: every answer the server gives is a well-
    // formed response with a known status, in order; the server never hangs (each client ends within the test's
    // socket timeout) and the next client is always served.
    [Fact]
    public void RandomHostileInput_FromAFixedSeed_NeverHangsOrBreaksTheServer()
    {
        using TestServer server = Start(3);
        var random = new Random(18_2026);
        byte[] valid = Encoding.ASCII.GetBytes(HttpClientConnection.Get("/plaintext") + HttpClientConnection.Get("/json"));
        int[] known = [200, 400, 404, 405, 413, 414, 431, 501, 505];
        for (int round = 0; round < 60; round++)
        {
            byte[] input = Mutate(random, valid);
            using (var http = HttpClientConnection.Connect(server.Port))
            {
                http.Send(input);
                http.Client.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);   // the server answers what it can, then closes
                while (http.Read() is { } response)
                    Assert.Contains(response.Status, known);
            }
            AssertServesAFreshClient(server);
        }
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

    private static byte[] Mutate(Random random, byte[] valid)
    {
        byte[] input = (byte[])valid.Clone();
        switch (random.Next(5))
        {
            case 0:
                random.NextBytes(input);   // noise
                break;
            case 1:
                input[random.Next(input.Length)] = 0;   // a NUL
                break;
            case 2:
                input[random.Next(input.Length)] = (byte)'\r';   // a bare CR
                break;
            case 3:
                input = input[..random.Next(input.Length)];   // cut short: an incomplete head waits for EOF
                break;
            default:
                for (int i = 0; i < 4; i++)
                    input[random.Next(input.Length)] = (byte)random.Next(256);
                break;
        }
        return input;
    }

    private static void AssertServesAFreshClient(TestServer server)
    {
        using var fresh = HttpClientConnection.Connect(server.Port);
        fresh.Send(HttpClientConnection.Get("/plaintext"));
        Assert.Equal("Hello, World!", fresh.Read()!.Text);
    }
}
