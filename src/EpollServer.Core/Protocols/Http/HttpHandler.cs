// HTTP/1.1 on the stream (RFC 9112): request heads framed out of the input ring, answered in order (pipelining), kept
// alive by default. Up to 1 KiB of empty lines before a request line are skipped (2.2). A head's lines all end the
// way its request line does: CRLF, or a bare LF (accepted as nginx accepts it, consistently: then every line of that
// head and of its chunked body ends in a bare LF); a head mixing the two is 400 and a close. A body (Content-Length,
// or Transfer-Encoding: chunked, decoded by HttpChunkedBody) is read and dropped before the request is answered, so
// a refusal found in it still has a status of its own; `Expect: 100-continue` gets 100 Continue before it. The
// request timer runs from the head's first byte to the body's last (Connection.HoldRequestTimer), and a request
// that outlives --request-timeout is answered 408 and closed. Limits answer with their status and close: a request
// line over 8 KiB 414, a head over 8 KiB or over --max-header-fields lines 431, a body over 1 MiB (decoded) 413;
// malformed input 400 (HttpRequestHead says which), codings other than one `chunked` 501, an expectation other than
// 100-continue 417; methods other than GET and HEAD are 405 (CONNECT closes after it). Subclasses say what each path
// answers. Nothing is allocated per request: heads are parsed in place, answers written from scratch buffers; the
// head of a request with a body is kept in a per-connection buffer, made the first time one comes; only an answer
// larger than what the output ring can take is copied, and streamed as the peer reads it.
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

    // Empty lines before a request line are ignored (RFC 9112 2.2), up to this many bytes of them; more is 400.
    public const int MaxLeadingEmptyLines = 1024;

    // The input ring must hold a whole head with room to spare, or a maximal one could never be read.
    public const int MinInputBufferSize = 2 * MaxHead;

    private static readonly byte[] TextPlain = "text/plain; charset=utf-8"u8.ToArray();

    private static readonly byte[] Continue = "HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray();

    private readonly byte[] _head = new byte[MaxLeadingEmptyLines + MaxHead + 4];   // a head that wraps the ring end is copied here
    private readonly byte[] _answerHead = new byte[1024];
    private readonly byte[] _date = new byte[29];            // "Tue, 01 Dec 2026 17:40:00 GMT", remade once a second
    private long _dateSecond = -1;
    private long _requests;
    private long _refused;
    private int _maxFields = 100;

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

    // Per connection: the body being read and dropped (Content-Length bytes left, or a chunked decoder), the head
    // of the request it belongs to (kept to answer once the body has ended), and a request answered later.
    // Deferred holds from the request until its answer is all in the output ring: made off the loop, or being
    // streamed (Rest).
    private sealed class Exchange
    {
        public long BodyLeft;
        public HttpChunkedBody? Chunks;
        public bool InChunks;
        public byte[]? SavedHead;
        public int SavedLength;
        public bool SavedCrlf;
        public bool Deferred;
        public bool DeferredHead;
        public bool DeferredKeepAlive;
        public byte[]? Rest;      // a streamed answer, head and body, and how much of it is written
        public int RestWritten;
        public bool RestKeepAlive;

        public bool InBody => BodyLeft > 0 || InChunks;
    }

    public void OnOpen(Connection connection)
    {
        connection.State = new Exchange();
        _maxFields = connection.Context.Options.MaxHeaderFields;   // one value per server: every connection's the same
    }

    public int OnData(Connection connection, ReadableBytes data)
    {
        var exchange = (Exchange)connection.State!;
        int consumed = 0;
        while (!connection.IsClosing && !exchange.Deferred && consumed < data.Length)
        {
            ReadableBytes rest = data.Slice(consumed);
            int used = exchange.InBody ? OnBody(connection, exchange, rest) : OnRequest(connection, exchange, rest);
            if (used == 0)
                break;   // the head or a body line is not complete yet, or the output has no room for the answer
            consumed += used;
        }
        return connection.IsClosing ? data.Length : consumed;
    }

    // The request timed out before its answer (its head never ended, or its body trickled): 408, then the close.
    public void OnRequestTimeout(Connection connection)
    {
        if (connection.State is Exchange { Deferred: false })
            Write(connection, head: false, keepAlive: false, new HttpAnswer(408, TextPlain, "request timeout\n"u8));
    }

    // One request at the start of `rest`: its head framed and parsed, and then either answered (no body) or kept
    // while its body is read. Returns the bytes of its head (and the empty lines before it); 0 when it must wait.
    private int OnRequest(Connection connection, Exchange exchange, ReadableBytes rest)
    {
        ReadOnlySpan<byte> window = Window(rest, _head.Length);
        int blank = LeadingEmptyLines(window);
        if (blank > MaxLeadingEmptyLines)
            return Refuse(connection, 400, "too many empty lines before a request");
        ReadOnlySpan<byte> text = window[blank..];
        int firstLine = text.IndexOf((byte)'\n');
        if (firstLine > MaxRequestLine || firstLine < 0 && rest.Length - blank > MaxRequestLine)
            return Refuse(connection, 414, "request line too long");
        int headEnd = FrameHead(text, out bool crlf, out int headLength);
        if (headEnd < 0)
            return Refuse(connection, 400, "CRLF and bare LF line ends in one head");
        if (headEnd == 0 ? rest.Length - blank > MaxHead : headLength > MaxHead)
            return Refuse(connection, 431, "request head too long");
        if (headEnd == 0)
            return 0;
        int status = HttpRequestHead.Parse(text[..headLength], crlf, _maxFields, out HttpRequestHead request);
        if (status == 0 && request.ContentLength > MaxBody)
            status = 413;
        if (status != 0)
            return Refuse(connection, status, $"malformed request ({status})");
        if (request.ContentLength == 0 && !request.Chunked)
            return Serve(connection, exchange, request) ? blank + headEnd : 0;
        return StartBody(connection, exchange, text[..headLength], crlf, request) ? blank + headEnd : 0;
    }

    // A request with a body: 100 Continue first when asked for (the body will be read), the head kept, and the request
    // timer held until the body's last byte, so that one --request-timeout covers head and body together.
    private bool StartBody(Connection connection, Exchange exchange, ReadOnlySpan<byte> head, bool crlf, in HttpRequestHead request)
    {
        if (request.ExpectContinue && !connection.EnsureOutputSpace(Continue.Length))
            return false;
        if (request.ExpectContinue)
            connection.Write(Continue);
        if (exchange.SavedHead is null || exchange.SavedHead.Length < head.Length)
            exchange.SavedHead = new byte[Math.Max(256, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)head.Length))];
        head.CopyTo(exchange.SavedHead);
        (exchange.SavedLength, exchange.SavedCrlf) = (head.Length, crlf);
        exchange.BodyLeft = request.ContentLength;
        if (request.Chunked)
        {
            (exchange.Chunks ??= new HttpChunkedBody()).Start(crlf, _maxFields);
            exchange.InChunks = true;
        }
        connection.HoldRequestTimer();
        return true;
    }

    // Reads and drops body bytes at the start of `rest`; at the body's end the request is answered, and the last
    // bytes are consumed only once the answer is written (so they are offered again when the output has room).
    private int OnBody(Connection connection, Exchange exchange, ReadableBytes rest)
    {
        if (!exchange.InChunks)
        {
            int skipped = (int)Math.Min(exchange.BodyLeft, rest.Length);
            if (skipped == exchange.BodyLeft && !AnswerSaved(connection, exchange))
                skipped--;
            exchange.BodyLeft -= skipped;
            return skipped;
        }
        HttpChunkedBody chunks = exchange.Chunks!;
        if (chunks.DataLeft > 0)
        {
            int skipped = (int)Math.Min(chunks.DataLeft, rest.Length);
            chunks.Skipped(skipped);
            return skipped;
        }
        int line = chunks.ReadLine(Window(rest, chunks.MaxLine), out int status);
        if (status != 0)
            return Refuse(connection, status, $"malformed chunked body ({status})");
        if (line == 0 || !chunks.Done)
            return line;
        exchange.InChunks = false;
        if (AnswerSaved(connection, exchange))
            return line;
        (exchange.InChunks, line) = (true, 0);
        chunks.Reopen();
        return line;
    }

    // The request whose body has just been read, parsed again from its kept head and answered.
    private bool AnswerSaved(Connection connection, Exchange exchange)
    {
        HttpRequestHead.Parse(exchange.SavedHead.AsSpan(0, exchange.SavedLength), exchange.SavedCrlf, _maxFields, out HttpRequestHead request);
        connection.ReleaseRequestTimer();
        if (Serve(connection, exchange, request))
            return true;
        connection.HoldRequestTimer();
        return false;
    }

    // Answers a whole request (or defers it); false when the output has no room for the answer yet.
    private bool Serve(Connection connection, Exchange exchange, in HttpRequestHead request)
    {
        bool head = request.Method == HttpMethod.Head;
        bool keepAlive = request.KeepAlive && !request.IsConnect;
        if (request.Method != HttpMethod.Other && Defers(connection, request))
        {
            (exchange.Deferred, exchange.DeferredHead, exchange.DeferredKeepAlive) = (true, head, keepAlive);
            connection.PauseReading();
            _requests++;
            return true;
        }
        bool written = request.Method == HttpMethod.Other
            ? Write(connection, head, keepAlive, new HttpAnswer(405, TextPlain, "method not allowed\n"u8, "Allow: GET, HEAD\r\n"u8))
            : Write(connection, head, keepAlive, Answer(connection, request));
        if (!written)
            return false;
        _requests++;
        if (!keepAlive && !exchange.Deferred)   // a streamed answer closes after its last piece
            connection.Close();
        return true;
    }

    // The bytes a head may occupy, contiguous: the ring's first segment when it holds them, else a copy.
    private ReadOnlySpan<byte> Window(ReadableBytes rest, int most)
    {
        int length = Math.Min(rest.Length, most);
        if (rest.First.Length >= length)
            return rest.First[..length];
        rest.Slice(0, length).CopyTo(_head);
        return _head.AsSpan(0, length);
    }

    // The bytes of empty lines (CRLF or LF) at the window's start, which RFC 9112 2.2 has a server ignore.
    private static int LeadingEmptyLines(ReadOnlySpan<byte> window)
    {
        int i = 0;
        while (i < window.Length && (window[i] == (byte)'\n' || window[i] == (byte)'\r' && i + 1 < window.Length && window[i + 1] == (byte)'\n'))
            i += window[i] == (byte)'\n' ? 1 : 2;
        return i;
    }

    // Where the head ends (after its empty line), 0 while it has not, or -1 when a line ends otherwise than the request
    // line did (CRLF against bare LF: refused as soon as that line is seen). `headLength` is the head without the
    // empty line; `crlf` says how its lines end.
    private static int FrameHead(ReadOnlySpan<byte> text, out bool crlf, out int headLength)
    {
        headLength = 0;
        int lf = text.IndexOf((byte)'\n');
        crlf = lf > 0 && text[lf - 1] == (byte)'\r';
        for (int start = lf + 1; lf >= 0; start = lf + 1)
        {
            int next = text[start..].IndexOf((byte)'\n');
            if (next < 0)
                return 0;
            lf = start + next;
            if ((lf > start && text[lf - 1] == (byte)'\r') != crlf)
                return -1;
            if (lf - start == (crlf ? 1 : 0))
                return (headLength = start) + (crlf ? 2 : 1);
        }
        return 0;
    }

    // Answers a request that cannot be served with its status and closes: what follows it cannot be framed.
    private int Refuse(Connection connection, int status, string reason)
    {
        _refused++;
        connection.ReportPeerError(reason);
        ReadOnlySpan<byte> body = status switch
        {
            413 => "request body too large\n"u8,
            417 => "only 100-continue is expected\n"u8,
            414 => "request line too long\n"u8,
            431 => "request head too long\n"u8,
            501 => "only the chunked transfer coding is accepted\n"u8,
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
        100 => "Continue"u8,
        200 => "OK"u8,
        400 => "Bad Request"u8,
        404 => "Not Found"u8,
        405 => "Method Not Allowed"u8,
        408 => "Request Timeout"u8,
        413 => "Content Too Large"u8,
        414 => "URI Too Long"u8,
        417 => "Expectation Failed"u8,
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
