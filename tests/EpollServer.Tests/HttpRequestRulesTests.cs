// Each request rule of RFC 9112 / RFC 9110 that `--protocol http` keeps (README's HTTP section), over a real socket,
// sent in one write and again one byte at a time (each byte read by the server before the next is sent): the answers
// in order, with `c` for Connection: close, and the orderly end after the client's FIN. Each case's expected answers
// are also what the reference judge (HttpReferenceJudge, the random test's oracle) says, which keeps the judge honest.
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using EpollServer.Diagnostics;
using EpollServer.Protocols.Http;
using EpollServer.Tests.Infrastructure;
using static EpollServer.Tests.HttpReferenceJudge;

namespace EpollServer.Tests;

public sealed class HttpRequestRulesTests
{
    private const string H = "Host: t\r\n";
    private const string Next = "GET /json HTTP/1.1\r\nHost: t\r\n\r\n";

    [Theory]
    [InlineData("GET /plaintext HTTP/1.1\nHost: t\n\nGET /json HTTP/1.1\nHost: t\n\n", "200 200")]
    [InlineData("GET /plaintext HTTP/1.1\nHost: t\n\n" + Next, "200 200")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: t\n\r\n" + Next, "400c")]
    [InlineData("GET /plaintext HTTP/1.1\nHost: t\r\n\n" + Next, "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: t\r\n\n" + Next, "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: t\nX-Never: ends", "400c")]
    public void LineEnds_AreOneWayPerHead(string input, string answers) => AssertAnswers(input, answers);

    [Theory]
    [InlineData("GET /pla\u0001intext HTTP/1.1\r\n" + H + "\r\n", "400c")]
    [InlineData("GET /plain\ttext HTTP/1.1\r\n" + H + "\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "X-A\u007F: b\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "X-A: b\u001Bc\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "X-A: b\u007F\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "X-A: b\0\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "X-A: b\tc\r\n\r\n" + Next, "200 200")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "X-A: b\r\n c\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "\tX-A: b\r\n\r\n", "400c")]
    public void ControlCharactersAndFoldedLines_Are400(string input, string answers) => AssertAnswers(input, answers);

    [Theory]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "Connection: keep-alive\r\nConnection: close\r\n\r\n" + Next, "200c")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "Connection: close\r\nConnection: keep-alive\r\n\r\n" + Next, "200c")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "Connection: upgrade, CLOSE\r\n\r\n" + Next, "200c")]
    [InlineData("GET /plaintext HTTP/1.0\r\nConnection: foo, keep-alive\r\n\r\n" + Next, "200 200")]
    [InlineData("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\nConnection: x, Close\r\n\r\n" + Next, "200c")]
    [InlineData("GET /plaintext HTTP/1.0\r\n\r\n" + Next, "200c")]
    public void ConnectionTokens_FromEveryLine_CloseWins(string input, string answers) => AssertAnswers(input, answers);

    [Theory]
    [InlineData("GET /plaintext HTTP/1.1\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: a b\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: user@host\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost:\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: h:80x\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: h:123456\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: [::1\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: %4g\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", "400c")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n" + Next, "200 200")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: [v1.x]\r\n\r\n" + Next, "200 200")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: xn--d1a.example:80\r\n\r\n" + Next, "200 200")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:\r\n\r\n" + Next, "200 200")]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: %41b\r\n\r\n" + Next, "200 200")]
    [InlineData("GET /plaintext HTTP/1.0\r\n\r\n", "200c")]
    public void Host_OneAndValid_InHttp11(string input, string answers) => AssertAnswers(input, answers);

    [Theory]
    [InlineData("GET http://example.com/plaintext?x=1 HTTP/1.1\r\nHost: other\r\n\r\n" + Next, "200 200")]
    [InlineData("GET HTTPS://example.com:8443/json HTTP/1.1\r\n" + H + "\r\n" + Next, "200 200")]
    [InlineData("GET http://example.com HTTP/1.1\r\n" + H + "\r\n" + Next, "404 200")]
    [InlineData("GET http://example.com?plaintext HTTP/1.1\r\n" + H + "\r\n" + Next, "404 200")]
    [InlineData("GET ftp://example.com/plaintext HTTP/1.1\r\n" + H + "\r\n", "400c")]
    [InlineData("GET http://user@example.com/plaintext HTTP/1.1\r\n" + H + "\r\n", "400c")]
    [InlineData("GET http:///plaintext HTTP/1.1\r\n" + H + "\r\n", "400c")]
    [InlineData("OPTIONS * HTTP/1.1\r\n" + H + "\r\n" + Next, "405 200")]
    [InlineData("GET * HTTP/1.1\r\n" + H + "\r\n", "400c")]
    [InlineData("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" + Next, "405c")]
    [InlineData("CONNECT [::1]:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" + Next, "405c")]
    [InlineData("CONNECT [::1] HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "400c")]
    [InlineData("CONNECT /plaintext HTTP/1.1\r\n" + H + "\r\n", "400c")]
    [InlineData("GET example.com:443 HTTP/1.1\r\n" + H + "\r\n", "400c")]
    public void RequestTargets_InTheirFourForms(string input, string answers) => AssertAnswers(input, answers);

    [Theory]
    [InlineData("\r\n\r\nGET /plaintext HTTP/1.1\r\n" + H + "\r\n\r\n" + Next, "200 200")]
    [InlineData("\n\nGET /plaintext HTTP/1.1\r\n" + H + "\r\n", "200")]
    [InlineData("\r\n\r\n", "")]
    [InlineData("\r\r\nGET /plaintext HTTP/1.1\r\n" + H + "\r\n", "400c")]
    public void EmptyLinesBeforeARequest_AreIgnored(string input, string answers) => AssertAnswers(input, answers);

    [Theory]
    [InlineData(1024, "200")]
    [InlineData(1025, "400c")]
    public void EmptyLinesBeforeARequest_AreBounded(int bytes, string answers) =>
        AssertAnswers(new string('\n', bytes) + "GET /plaintext HTTP/1.1\r\n" + H + "\r\n", answers);

    [Theory]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" + Next, "100 405 200")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "Expect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" + Next, "100 200 200")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Expect: 100-continue\r\nContent-Length: 2000000\r\n\r\n", "413c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Expect: 100-continue, x\r\nContent-Length: 5\r\n\r\nhello", "417c")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "Expect: 100-continue\r\n\r\n" + Next, "200 200")]
    [InlineData("GET /plaintext HTTP/1.0\r\nExpect: something\r\n\r\n", "200c")]
    public void Expect100Continue_BeforeTheBody_OrTheFinalStatus(string input, string answers) => AssertAnswers(input, answers);

    [Theory]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5;ext=1;b=\"x\"\r\nhello\r\n0\r\nX-T: y\r\n\r\n" + Next, "405 200")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n1 ; e\r\nx\r\n0\r\n\r\n" + Next, "200 200")]
    [InlineData("POST /plaintext HTTP/1.1\nHost: t\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n" + Next, "405 200")]
    [InlineData("POST /plaintext HTTP/1.1\nHost: t\nTransfer-Encoding: chunked\n\n3\r\nabc\n0\n\n", "400c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", "400c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n000000001\r\na\r\n0\r\n\r\n", "400c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n00000001\r\na\r\n0\r\n\r\n" + Next, "405 200")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n100001\r\n", "413c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n80000\r\n", "")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\nx\r\n", "400c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n-1\r\n", "400c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", "400c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n", "400c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", "400c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\u0001\r\n\r\n", "400c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip\r\n\r\n", "501c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip, chunked\r\n\r\n", "501c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "501c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: \r\n\r\n", "400c")]
    [InlineData("POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", "400c")]
    [InlineData("POST /plaintext HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400c")]
    public void ChunkedBodies_AreDecoded_AndFramedExactly(string input, string answers) => AssertAnswers(input, answers);

    [Theory]
    [InlineData(99, "200 200")]
    [InlineData(100, "431c")]
    public void TheFieldLimit_Is100ByDefault(int extraFields, string answers) =>
        AssertAnswers("GET /plaintext HTTP/1.1\r\n" + H + string.Concat(Enumerable.Range(0, extraFields).Select(i => $"X-{i}: v\r\n")) + "\r\n" + Next, answers);

    // --max-header-fields (ServerOptions.MaxHeaderFields) reaches the handler; trailers are held to it too.
    [Theory]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "A: 1\r\nB: 2\r\n\r\n" + Next, "200 200")]
    [InlineData("GET /plaintext HTTP/1.1\r\n" + H + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", "431c")]
    [InlineData("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n" + Next, "405 200")]
    [InlineData("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", "431c")]
    public void TheFieldLimit_IsASetting(string input, string answers)
    {
        using var server = new TestServer(handlers: () => new BenchmarkHttpHandler(), configure: o =>
        {
            o.LingerTimeout = TimeSpan.FromMinutes(1);
            o.MaxHeaderFields = 3;
        });
        foreach (bool byteByByte in (bool[])[false, true])
            Exchange(server, Encoding.Latin1.GetBytes(input), Expected(answers), byteByByte);
    }

    // A body declared but cut short by the client's FIN is never answered; the decoded size limit is applied before
    // the data of the chunk that would pass it arrives.
    [Fact]
    public void ChunksUpToTheBodyLimit_AreServed_OneByteMoreIs413()
    {
        string chunk = new('a', 1 << 19);
        string head = "POST /plaintext HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n";
        AssertAnswers(head + $"80000\r\n{chunk}\r\n80000\r\n{chunk}\r\n0\r\n\r\n" + Next, "405 200", byteByByteToo: false);
        AssertAnswers(head + $"80000\r\n{chunk}\r\n80000\r\n{chunk}\r\n1\r\n", "413c", byteByByteToo: false);
    }

    private static void AssertAnswers(string input, string answers, bool byteByByteToo = true)
    {
        byte[] bytes = Encoding.Latin1.GetBytes(input);
        List<Answer> expected = Expected(answers);
        if (bytes.Length < 8 * 1024)
            Assert.Equal(expected, AnswersTo(bytes));   // the random test's oracle says the same
        using var server = new TestServer(handlers: () => new BenchmarkHttpHandler(), configure: o => o.LingerTimeout = TimeSpan.FromMinutes(1));
        Exchange(server, bytes, expected, byteByByte: false);
        if (byteByByteToo)
            Exchange(server, bytes, expected, byteByByte: true);
    }

    // "200 404c 100": statuses in order, c for a Connection: close; 100 Continue is read as a head alone.
    private static List<Answer> Expected(string answers) =>
        [.. answers.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => new Answer(int.Parse(a.TrimEnd('c')), a.EndsWith('c'), a == "100"))];

    private static void Exchange(TestServer server, byte[] input, List<Answer> expected, bool byteByByte)
    {
        string context = $"{(byteByByte ? "byte by byte" : "one write")}: {Encoding.Latin1.GetString(input[..Math.Min(input.Length, 300)]).ReplaceLineEndings("|")}";
        using var http = HttpClientConnection.Connect(server.Port);
        if (byteByByte)
            SendByteByByte(server, http, input);
        else
            http.Send(input);
        try
        {
            http.Client.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
        }
        foreach (Answer answer in expected)
        {
            HttpResponse? response = http.Read(head: answer.Head);
            Assert.True(response is not null, $"{context}: expected {answer.Status}, the connection ended ({http.End})");
            Assert.True((answer.Status, answer.Closes) == (response.Status, response.Header("Connection") == "close"),
                $"{context}: expected {answer.Status}{(answer.Closes ? " and close" : "")}, got {response.Status} Connection: {response.Header("Connection")}");
        }
        Assert.True(http.WaitForEnd() == ConnectionEnd.Fin, $"{context}: after {expected.Count} answers expected a FIN, got {http.End}");
    }

    // Each byte is read by the server before the next is sent, so every split of the request is seen.
    private static void SendByteByByte(TestServer server, HttpClientConnection http, byte[] input)
    {
        foreach (byte b in input)
        {
            long before = Read(server);
            try
            {
                http.Send([b]);
            }
            catch (SocketException)
            {
                return;   // the server has closed and its linger ended: what it answered is in the receive buffer
            }
            var deadline = Stopwatch.StartNew();
            while (Read(server) <= before && server.Server.OpenConnections > 0)
            {
                Assert.True(deadline.ElapsedMilliseconds < 10_000, "the server did not read the byte");
                Thread.Yield();
            }
        }
    }

    private static long Read(TestServer server)
    {
        ServerStats stats = server.Server.Stats;
        return stats[Counter.BytesReceived] + stats[Counter.BytesDiscarded];
    }
}
