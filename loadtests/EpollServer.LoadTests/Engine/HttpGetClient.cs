// An HTTP/1.1 keep-alive client of the engine, for the soak's http daemon and the admin endpoint: GET each of its
// paths in turn, one request in flight, and check every answer: status 200, a Content-Length body received in full,
// and the body itself where the path's answer is constant (/plaintext, /healthz). `interval` paces it (the admin
// endpoint is polled, not hammered); zero sends the next request as soon as an answer is complete.
using System.Buffers.Text;

namespace EpollServer.LoadTests.Engine;

internal sealed class HttpGetClient : LoadClient
{
    private const int MaxAnswer = 1 << 20;
    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();
    private static readonly byte[] LengthHeader = "\r\nContent-Length: "u8.ToArray();

    private readonly byte[][] _requests;
    private readonly byte[]?[] _bodies;   // the expected body per path, null where it varies (/metrics, /stats)
    private readonly TimeSpan _interval;
    private byte[] _answer = new byte[16 * 1024];
    private int _length;
    private int _next;         // the path the next request asks for
    private long _sentAt = -1; // the request in flight (its send time), -1 when none

    public HttpGetClient(ClientLoop owner, System.Net.IPEndPoint target, IReadOnlyList<string> paths, TimeSpan interval)
        : base(owner)
    {
        Target = target;
        _interval = interval;
        _requests = [.. paths.Select(p => System.Text.Encoding.ASCII.GetBytes($"GET {p} HTTP/1.1\r\nHost: soak\r\n\r\n"))];
        _bodies = [.. paths.Select(p => p switch { "/plaintext" => "Hello, World!"u8.ToArray(), "/healthz" => "ok\n"u8.ToArray(), _ => null })];
    }

    public override System.Net.IPEndPoint? Target { get; }

    public override long Owed => _sentAt >= 0 ? 1 : 0;

    public long Answers { get; private set; }

    public override void Start() => Send();

    private void Send()
    {
        if (!IsOpen || !Owner.Clock.Issuing(Now) || !CanWrite(_requests[_next].Length))
            return;
        _sentAt = Now;
        Stats.Outstanding++;
        Write(_requests[_next]);
    }

    protected override void OnReceived(ReadOnlySpan<byte> data)
    {
        if (_sentAt < 0 || _length + data.Length > MaxAnswer)
        {
            Fail(LoadError.Mismatch);   // bytes nobody asked for, or an answer no server of ours sends
            return;
        }
        if (_length + data.Length > _answer.Length)
            Array.Resize(ref _answer, Math.Min(MaxAnswer, Math.Max(_answer.Length * 2, _length + data.Length)));
        data.CopyTo(_answer.AsSpan(_length));
        _length += data.Length;
        TryComplete();
    }

    // An answer is complete once its head and Content-Length bytes of body are in; anything after it is an error
    // (one request is in flight).
    private void TryComplete()
    {
        ReadOnlySpan<byte> answer = _answer.AsSpan(0, _length);
        int headEnd = answer.IndexOf(HeadEnd);
        if (headEnd < 0)
            return;
        ReadOnlySpan<byte> head = answer[..headEnd];
        int header = head.IndexOf(LengthHeader);
        if (!head.StartsWith("HTTP/1.1 200 "u8) || header < 0
            || !Utf8Parser.TryParse(head[(header + LengthHeader.Length)..], out int bodyLength, out _) || bodyLength < 0)
        {
            Fail(LoadError.Mismatch);
            return;
        }
        int total = headEnd + HeadEnd.Length + bodyLength;
        if (_length < total)
            return;
        ReadOnlySpan<byte> body = answer.Slice(headEnd + HeadEnd.Length, bodyLength);
        if (_length > total || (_bodies[_next] is { } expected && !body.SequenceEqual(expected)))
        {
            Fail(LoadError.Mismatch);
            return;
        }
        Stats.Outstanding--;
        Stats.RecordReply(_sentAt, Now);
        Answers++;
        _sentAt = -1;
        _length = 0;
        _next = (_next + 1) % _requests.Length;
        if (_interval <= TimeSpan.Zero)
            Send();
        else
            Owner.Loop.Schedule(_interval, Send);
    }

    protected override void OnClosed()
    {
        if (_sentAt >= 0)
            Stats.Outstanding--;
        _sentAt = -1;
        _length = 0;
    }
}
