// Blocking System.Net.Sockets clients for tests (the server under test never uses System.Net.Sockets).
// Every receive and send has a timeout, so a hung server fails a test instead of hanging the suite.
using System.Net;
using System.Net.Sockets;

namespace EpollServer.Tests.Infrastructure;

public sealed class TestClient : IDisposable
{
    public const int TimeoutMs = 10_000;

    private readonly byte[] _lines = new byte[256 * 1024];   // ReadLine's buffer: bytes received past the last line
    private int _lineStart;
    private int _lineEnd;

    private TestClient(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    // receiveBuffer is set before connect: shrinking SO_RCVBUF on an established connection shrinks a window
    // already advertised, and the peer then crawls on zero-window probes.
    public static TestClient Connect(int port, string host = "127.0.0.1", int? receiveBuffer = null)
    {
        IPAddress address = IPAddress.Parse(host);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
        {
            ReceiveTimeout = TimeoutMs,
            SendTimeout = TimeoutMs,
            NoDelay = true,
        };
        if (receiveBuffer is int size)
            socket.ReceiveBufferSize = size;
        using var cts = new CancellationTokenSource(TimeoutMs);
        socket.ConnectAsync(new IPEndPoint(address, port), cts.Token).AsTask().GetAwaiter().GetResult();
        return new TestClient(socket);
    }

    public void Send(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
            data = data[Socket.Send(data)..];
    }

    public byte[] ReceiveExactly(int count)
    {
        var buffer = new byte[count];
        int received = 0;
        while (received < count)
        {
            int n = Socket.Receive(buffer, received, count - received, SocketFlags.None);
            if (n == 0)
                throw new EndOfStreamException($"the server closed after {received} of {count} bytes");
            received += n;
        }
        return buffer;
    }

    // Reads until the server's FIN; fails if that takes longer than the timeout or goes past maxBytes.
    public byte[] ReceiveToEnd(int maxBytes = 64 << 20)
    {
        var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = Socket.Receive(buffer)) > 0)
        {
            all.Write(buffer, 0, n);
            if (all.Length > maxBytes)
                throw new InvalidDataException($"more than {maxBytes} bytes before EOF");
        }
        return all.ToArray();
    }

    // True when the server answered the probe with the same bytes; false when it closed or reset instead.
    public bool EchoesProbe(byte[] probe)
    {
        try
        {
            Send(probe);
            return ReceiveExactly(probe.Length).AsSpan().SequenceEqual(probe);
        }
        catch (Exception e) when (e is SocketException or EndOfStreamException)
        {
            return false;
        }
    }

    public void Send(string text) => Send(System.Text.Encoding.UTF8.GetBytes(text));

    // The next line as UTF-8 text, without its LF (a CR before it is kept). Do not mix with ReceiveExactly: bytes
    // past the line stay in this client's buffer. Null at EOF with nothing buffered.
    public string? ReadLine()
    {
        while (true)
        {
            int newline = _lines.AsSpan(_lineStart, _lineEnd - _lineStart).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                string line = System.Text.Encoding.UTF8.GetString(_lines, _lineStart, newline);
                _lineStart += newline + 1;
                return line;
            }
            if (_lineStart > 0)
            {
                Buffer.BlockCopy(_lines, _lineStart, _lines, 0, _lineEnd - _lineStart);
                _lineEnd -= _lineStart;
                _lineStart = 0;
            }
            if (_lineEnd == _lines.Length)
                throw new InvalidDataException("a line longer than 256 KiB");
            int n = Socket.Receive(_lines, _lineEnd, _lines.Length - _lineEnd, SocketFlags.None);
            if (n == 0)
                return _lineEnd == 0 ? null : throw new EndOfStreamException("EOF in the middle of a line");
            _lineEnd += n;
        }
    }

    public void Dispose() => Socket.Dispose();
}

public static class Patterns
{
    // Deterministic bytes that differ per connection and per position, so a byte from the wrong place shows.
    public static byte[] For(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
