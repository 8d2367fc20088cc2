// One raw HTTP/1.1 connection for the tests: requests written as bytes (so malformed and pipelined ones can be sent),
// responses read and framed by their Content-Length, exactly as sent, and how the server ended the connection: a FIN
// (a clean end of stream) is told from a reset, which a "closed by the server" test must not take for a close.
using System.Net.Sockets;
using System.Text;

namespace EpollServer.Tests.Infrastructure;

public sealed record HttpResponse(int Status, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string Text => Encoding.UTF8.GetString(Body);

    public string Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out string? value) ? value : "";
}

// How the server ended the connection, as this side saw it.
public enum ConnectionEnd
{
    Open,    // nothing yet: the connection is still up
    Fin,     // an orderly end of stream: recv returned 0
    Reset,   // recv failed with ECONNRESET: the server's kernel sent an RST (unread data at close, or SO_LINGER 0)
}

public sealed class HttpClientConnection : IDisposable
{
    private readonly TestClient _client;
    private readonly List<byte> _buffered = [];

    private HttpClientConnection(TestClient client) => _client = client;

    public TestClient Client => _client;

    public static HttpClientConnection Connect(int port) => new(TestClient.Connect(port));

    public void Send(string raw) => _client.Send(Encoding.ASCII.GetBytes(raw));

    public void Send(ReadOnlySpan<byte> raw) => _client.Send(raw);

    public static string Get(string path, string extraHeaders = "", string method = "GET", string version = "HTTP/1.1") =>
        $"{method} {path} {version}\r\nHost: test\r\n{extraHeaders}\r\n";

    public ConnectionEnd End { get; private set; }

    // The next response; `head` true for a HEAD request's (headers only). Null when the server ended the connection
    // first (End says how).
    public HttpResponse? Read(bool head = false)
    {
        int headEnd;
        while ((headEnd = IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (!Fill())
                return null;
        }
        string[] lines = Encoding.ASCII.GetString([.. _buffered.Take(headEnd)]).Split("\r\n");
        _buffered.RemoveRange(0, headEnd + 4);
        int status = int.Parse(lines[0].Split(' ')[1]);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim());
        int length = head ? 0 : int.Parse(headers["content-length"]);
        while (_buffered.Count < length)
        {
            if (!Fill())
                throw new EndOfStreamException($"the body ended after {_buffered.Count} of {length} bytes");
        }
        byte[] body = [.. _buffered.Take(length)];
        _buffered.RemoveRange(0, length);
        return new HttpResponse(status, headers, body);
    }

    // Reads until the server ends the connection and says how; Open when bytes came instead (an answer nobody
    // expected), which are left buffered.
    public ConnectionEnd WaitForEnd()
    {
        while (_buffered.Count == 0 && Fill())
        {
        }
        return _buffered.Count == 0 ? End : ConnectionEnd.Open;
    }

    private int IndexOf(ReadOnlySpan<byte> pattern) =>
        System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_buffered).IndexOf(pattern);

    private bool Fill()
    {
        if (End != ConnectionEnd.Open)
            return false;
        var chunk = new byte[16 * 1024];
        int n;
        try
        {
            n = _client.Socket.Receive(chunk);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            End = ConnectionEnd.Reset;
            return false;
        }
        if (n == 0)
        {
            End = ConnectionEnd.Fin;
            return false;
        }
        _buffered.AddRange(chunk.AsSpan(0, n));
        return true;
    }

    public void Dispose() => _client.Dispose();
}
