// HTTP/1.1 on the stream: request heads framed out of the input ring, answered in order (pipelining), kept alive by
// default. Limits answer with their status and close: a request line over 8 KiB 414, a head over 8 KiB 431, a body
// over 1 MiB 413; malformed input 400, request bodies in Transfer-Encoding 501, methods other than GET and HEAD 405.
// A request whose head never ends is left unconsumed, so --request-timeout closes it. Subclasses say what each path
// answers. Nothing is allocated per request: heads are parsed in place, answers written from scratch buffers; only an
// answer larger than what the output ring can take is copied, and streamed as the peer reads it.
using System.Buffers.Text;
using EpollServer.Buffers;
using EpollServer.Net;

namespace EpollServer.Protocols.Http;

// What a path answers: the status, the body and its type, and any headers beyond the standard ones (CRLF-ended).
public readonly ref struct HttpAnswer(int status, ReadOnlySpan<byte> contentType, ReadOnlySpan<byte> body, ReadOnlySpan<byte> extraHeaders = default)
{
    public int Status { get; } = status;

    public ReadOnlySpan<byte> ContentType { get; } = contentType;

    public ReadOnlySpan<byte> Body { get; } = body;

    public ReadOnlySpan<byte> ExtraHeaders { get; } = extraHeaders;
}

public abstract class HttpHandler : IProtocolHandler
{
    public const int MaxRequestLine = 8 * 1024;
    public const int MaxHead = 8 * 1024;
    public const long MaxBody = 1 << 20;

    // The input ring must hold a whole head with room to spare, or a maximal one could never be read.
    public const int MinInputBufferSize = 2 * MaxHead;

    private static readonly byte[] TextPlain = "text/plain; charset=utf-8"u8.ToArray();

    private readonly byte[] _head = new byte[MaxHead + 4];   // a head that wraps the ring end is copied here
    private readonly byte[] _answerHead = new byte[1024];
    private readonly byte[] _date = new byte[29];            // "Tue, 01 Dec 2026 17:40:00 GMT", remade once a second
    private long _dateSecond = -1;
    private long _requests;
    private long _refused;

    public abstract string Name { get; }

    public long MessagesHandled => Volatile.Read(ref _requests);

    public IEnumerable<KeyValuePair<string, long>> Counters => [new("requests-refused", Volatile.Read(ref _refused))];

    // What `request` (a GET or HEAD) answers. The spans must stay valid until the handler has written them.
    protected abstract HttpAnswer Answer(Connection connection, in HttpRequestHead request);

    // True when the answer to `request` needs other threads: the handler has started that work and answers later,
    // on this connection's loop, with AnswerLater. Until then the connection reads nothing more (requests pipelined
    // behind this one wait in the ring, so answers stay in order).
    protected virtual bool Defers(Connection connection, in HttpRequestHead request) => false;

    // The answer to the request a Defers call took: written (in pieces, as the peer reads, when the output cannot
    // take it now), then the requests behind it are read.
    protected void AnswerLater(Connection connection, HttpAnswer answer)
    {
        var exchange = (Exchange)connection.State!;
        if (connection.IsClosing || !exchange.Deferred)
            return;
        exchange.Deferred = false;
        Write(connection, exchange.DeferredHead, exchange.DeferredKeepAlive, answer, mustTake: true);
        if (exchange.Deferred)
            return;   // streaming: reading resumes (or the connection closes) once its last piece is written
        if (!exchange.DeferredKeepAlive)
            connection.Close();
        else
            connection.ResumeReading();
    }

    // Per connection: bytes of a request body still to be read and dropped, and a request answered later. Deferred
    // holds from the request until its answer is all in the output ring: made off the loop, or being streamed (Rest).
    private sealed class Exchange
    {
        public long BodyLeft;
        public bool Deferred;
        public bool DeferredHead;
        public bool DeferredKeepAlive;
        public byte[]? Rest;      // a streamed answer, head and body, and how much of it is written
        public int RestWritten;
        public bool RestKeepAlive;
    }

    public void OnOpen(Connection connection) => connection.State = new Exchange();

    public int OnData(Connection connection, ReadableBytes data)
    {
        var exchange = (Exchange)connection.State!;
        int consumed = 0;
        while (!connection.IsClosing && !exchange.Deferred && consumed < data.Length)
        {
            if (exchange.BodyLeft > 0)
            {
                int skipped = (int)Math.Min(exchange.BodyLeft, data.Length - consumed);
                exchange.BodyLeft -= skipped;
                consumed += skipped;
                continue;
            }
            int used = OnRequest(connection, exchange, data.Slice(consumed));
            if (used == 0)
                break;   // the head is not complete yet, or the output has no room for the answer
            consumed += used;
        }
        return connection.IsClosing ? data.Length : consumed;
    }

    // One request at the start of `rest`: answered, and the bytes of its head returned; 0 when it must wait.
    private int OnRequest(Connection connection, Exchange exchange, ReadableBytes rest)
    {
        ReadOnlySpan<byte> window = Window(rest);
        int firstLine = window.IndexOf((byte)'\n');
        if (firstLine > MaxRequestLine || firstLine < 0 && rest.Length > MaxRequestLine)
            return Refuse(connection, 414, "request line too long");
        int headEnd = HeadEnd(window, out int headLength);
        if (headEnd < 0)
            return rest.Length > MaxHead ? Refuse(connection, 431, "request head too long") : 0;
        int status = HttpRequestHead.Parse(window[..headLength], out HttpRequestHead request);
        if (status != 0)
            return Refuse(connection, status, $"malformed request ({status})");
        if (request.ContentLength > MaxBody)
            return Refuse(connection, 413, "request body too large");
        bool head = request.Method == HttpMethod.Head;
        if (request.Method != HttpMethod.Other && Defers(connection, request))
        {
            (exchange.Deferred, exchange.DeferredHead, exchange.DeferredKeepAlive) = (true, head, request.KeepAlive);
            connection.PauseReading();
            _requests++;
            exchange.BodyLeft = request.ContentLength;
            return headEnd;
        }
        bool written = request.Method == HttpMethod.Other
            ? Write(connection, head, request.KeepAlive, new HttpAnswer(405, TextPlain, "method not allowed\n"u8, "Allow: GET, HEAD\r\n"u8))
            : Write(connection, head, request.KeepAlive, Answer(connection, request));
        if (!written)
            return 0;
        _requests++;
        exchange.BodyLeft = request.ContentLength;
        if (!request.KeepAlive && !exchange.Deferred)   // a streamed answer closes after its last piece
            connection.Close();
        return headEnd;
    }

    // The bytes a head may occupy, contiguous: the ring's first segment when it holds them, else a copy.
    private ReadOnlySpan<byte> Window(ReadableBytes rest)
    {
        int length = Math.Min(rest.Length, _head.Length);
        if (rest.First.Length >= length)
            return rest.First[..length];
        rest.Slice(0, length).CopyTo(_head);
        return _head.AsSpan(0, length);
    }

    // Where the head ends (after its empty line), or -1; `headLength` is the head without the empty line.
    private static int HeadEnd(ReadOnlySpan<byte> window, out int headLength)
    {
        headLength = 0;
        for (int lf = window.IndexOf((byte)'\n'); lf >= 0;)
        {
            if (lf + 1 < window.Length && window[lf + 1] == (byte)'\n')
                return (headLength = lf + 1) + 1;
            if (lf + 2 < window.Length && window[lf + 1] == (byte)'\r' && window[lf + 2] == (byte)'\n')
                return (headLength = lf + 1) + 2;
            int next = window[(lf + 1)..].IndexOf((byte)'\n');
            lf = next < 0 ? -1 : lf + 1 + next;
        }
        return -1;
    }

    // Answers a request that cannot be served with its status and closes: what follows it cannot be framed.
    private int Refuse(Connection connection, int status, string reason)
    {
        _refused++;
        connection.ReportPeerError(reason);
        ReadOnlySpan<byte> body = status switch
        {
            413 => "request body too large\n"u8,
            414 => "request line too long\n"u8,
            431 => "request head too long\n"u8,
            501 => "request bodies in Transfer-Encoding are not accepted\n"u8,
            505 => "HTTP/1.0 and HTTP/1.1 only\n"u8,
            _ => "bad request\n"u8,
        };
        Write(connection, head: false, keepAlive: false, new HttpAnswer(status, TextPlain, body));   // no room: closed unanswered
        connection.Close();
        return 1;   // anything; the caller sees the connection closing and consumes the rest
    }

    // False when the answer does not fit now but will once the output drains (the request is offered again then).
    // An answer larger than the whole output ring, or one that must be taken now (mustTake: its spans do not outlive
    // this call), is streamed instead, and true returned.
    private bool Write(Connection connection, bool head, bool keepAlive, HttpAnswer answer, bool mustTake = false)
    {
        WriteHead(answer.Status, answer.ContentType, answer.Body.Length, answer.ExtraHeaders, keepAlive, out int length);
        int total = length + (head ? 0 : answer.Body.Length);
        if (!connection.EnsureOutputSpace(total))
        {
            if (!mustTake && total <= connection.Context.Options.OutputBufferSize)
                return false;
            Stream(connection, keepAlive, _answerHead.AsSpan(0, length), head ? default : answer.Body);
            return true;
        }
        connection.Write(_answerHead.AsSpan(0, length));
        if (!head)
            connection.Write(answer.Body);
        return true;
    }

    // An answer the output cannot hold goes out as the peer reads it: copied once (only such answers allocate), as
    // much written as fits, the rest from OnWritable. Reading stops meanwhile, so what is pipelined behind it waits
    // and answers stay in order; a peer that never reads is left to the idle timeout.
    private static void Stream(Connection connection, bool keepAlive, ReadOnlySpan<byte> head, ReadOnlySpan<byte> body)
    {
        var exchange = (Exchange)connection.State!;
        exchange.Rest = [.. head, .. body];
        (exchange.RestWritten, exchange.RestKeepAlive, exchange.Deferred) = (0, keepAlive, true);
        connection.PauseReading();
        WriteMore(connection, exchange);
    }

    public void OnWritable(Connection connection) => WriteMore(connection, (Exchange)connection.State!);

    private static void WriteMore(Connection connection, Exchange exchange)
    {
        if (exchange.Rest is not { } rest || connection.IsClosing)
            return;
        int count = Math.Min(connection.OutputSpace, rest.Length - exchange.RestWritten);
        connection.Write(rest.AsSpan(exchange.RestWritten, count));
        exchange.RestWritten += count;
        if (exchange.RestWritten < rest.Length)
        {
            connection.NotifyWhenWritable();
            return;
        }
        (exchange.Rest, exchange.Deferred) = (null, false);
        if (exchange.RestKeepAlive)
            connection.ResumeReading();
        else
            connection.Close();
    }

    private void WriteHead(int status, ReadOnlySpan<byte> contentType, int bodyLength, ReadOnlySpan<byte> extra,
        bool keepAlive, out int length)
    {
        var head = new SpanWriter(_answerHead);
        head.Append("HTTP/1.1 "u8);
        head.Append(status);
        head.Append(" "u8);
        head.Append(Reason(status));
        head.Append("\r\nServer: epollserver\r\nDate: "u8);
        head.Append(Date());
        head.Append("\r\nContent-Type: "u8);
        head.Append(contentType);
        head.Append("\r\nContent-Length: "u8);
        head.Append(bodyLength);
        head.Append(keepAlive ? "\r\n"u8 : "\r\nConnection: close\r\n"u8);
        head.Append(extra);
        head.Append("\r\n"u8);
        length = head.Length;
    }

    // The Date header, formatted again only when the second changes.
    private ReadOnlySpan<byte> Date()
    {
        DateTime now = DateTime.UtcNow;
        long second = now.Ticks / TimeSpan.TicksPerSecond;
        if (second != _dateSecond)
        {
            Utf8Formatter.TryFormat(now, _date, out _, new System.Buffers.StandardFormat('R'));
            _dateSecond = second;
        }
        return _date;
    }

    private static ReadOnlySpan<byte> Reason(int status) => status switch
    {
        200 => "OK"u8,
        400 => "Bad Request"u8,
        404 => "Not Found"u8,
        405 => "Method Not Allowed"u8,
        413 => "Content Too Large"u8,
        414 => "URI Too Long"u8,
        431 => "Request Header Fields Too Large"u8,
        501 => "Not Implemented"u8,
        503 => "Service Unavailable"u8,
        505 => "HTTP Version Not Supported"u8,
        _ => "Internal Server Error"u8,
    };

    // Appends bytes and numbers to a fixed buffer (an answer's head is far below its 1 KiB).
    private ref struct SpanWriter(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;

        public int Length { get; private set; }

        public void Append(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(_buffer[Length..]);
            Length += bytes.Length;
        }

        public void Append(int number)
        {
            Utf8Formatter.TryFormat(number, _buffer[Length..], out int written);
            Length += written;
        }
    }
}
