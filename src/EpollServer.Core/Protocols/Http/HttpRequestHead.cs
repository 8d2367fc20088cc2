// One HTTP/1.x request head (request line and headers, RFC 9112), parsed in place over the bytes that hold it: no
// copy, no allocation. Only what this server acts on is kept: the method, the path, the version, whether the client
// wants the connection kept, and the body's framing. Anything malformed, and every framing that could be read two
// ways (the request-smuggling shapes), is an error with the status to answer it with.
using System.Text;

namespace EpollServer.Protocols.Http;

public enum HttpMethod
{
    Other,
    Get,
    Head,
}

public readonly ref struct HttpRequestHead
{
    public HttpMethod Method { get; init; }

    public ReadOnlySpan<byte> MethodName { get; init; }

    // The request target's path, without its query.
    public ReadOnlySpan<byte> Path { get; init; }

    // 0 for HTTP/1.0, 1 for HTTP/1.1.
    public int MinorVersion { get; init; }

    // HTTP/1.1 keeps the connection unless it says `Connection: close`; HTTP/1.0 closes unless `keep-alive`.
    public bool KeepAlive { get; init; }

    public long ContentLength { get; init; }

    // Parses `head`: the request line and the header lines, up to and without the empty line that ends them. Each
    // line ends in CRLF (a bare LF is taken too, as nginx takes it); a CR anywhere else is an error. Returns 0, or
    // the status that refuses the request.
    public static int Parse(ReadOnlySpan<byte> head, out HttpRequestHead request)
    {
        request = default;
        int lineEnd = head.IndexOf((byte)'\n');
        ReadOnlySpan<byte> requestLine = TrimCr(lineEnd < 0 ? head : head[..lineEnd]);
        if (requestLine.Contains((byte)'\r') || requestLine.Contains((byte)0))
            return 400;
        int firstSpace = requestLine.IndexOf((byte)' ');
        int lastSpace = requestLine.LastIndexOf((byte)' ');
        if (firstSpace <= 0 || lastSpace <= firstSpace + 1)
            return 400;
        ReadOnlySpan<byte> method = requestLine[..firstSpace];
        ReadOnlySpan<byte> target = requestLine[(firstSpace + 1)..lastSpace];
        ReadOnlySpan<byte> version = requestLine[(lastSpace + 1)..];
        if (!IsToken(method) || target.Contains((byte)' ') || target[0] != (byte)'/' && !target.SequenceEqual("*"u8))
            return 400;
        int minor;
        if (version.SequenceEqual("HTTP/1.1"u8))
            minor = 1;
        else if (version.SequenceEqual("HTTP/1.0"u8))
            minor = 0;
        else
            return version.StartsWith("HTTP/"u8) && version.Length == 8 && char.IsAsciiDigit((char)version[5]) ? 505 : 400;

        var headers = new HeaderFacts { KeepAlive = minor == 1, ContentLength = -1 };
        ReadOnlySpan<byte> rest = lineEnd < 0 ? default : head[(lineEnd + 1)..];
        while (!rest.IsEmpty)
        {
            int end = rest.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = TrimCr(end < 0 ? rest : rest[..end]);
            rest = end < 0 ? default : rest[(end + 1)..];
            if (ReadHeader(line, ref headers) is int refused and > 0)
                return refused;
        }
        if (headers.TransferEncoding && headers.ContentLength >= 0)
            return 400;   // both framings: which one the server and a proxy in front of it believe is the smuggling
        if (headers.TransferEncoding)
            return 501;   // chunked request bodies are not accepted
        int query = target.IndexOf((byte)'?');
        request = new HttpRequestHead
        {
            Method = method.SequenceEqual("GET"u8) ? HttpMethod.Get : method.SequenceEqual("HEAD"u8) ? HttpMethod.Head : HttpMethod.Other,
            MethodName = method,
            Path = query < 0 ? target : target[..query],
            MinorVersion = minor,
            KeepAlive = headers.KeepAlive,
            ContentLength = Math.Max(0, headers.ContentLength),
        };
        return 0;
    }

    private ref struct HeaderFacts
    {
        public bool KeepAlive;
        public long ContentLength;   // -1: none given
        public bool TransferEncoding;
    }

    // One `name: value` line; 0, or the status that refuses the request.
    private static int ReadHeader(ReadOnlySpan<byte> line, ref HeaderFacts facts)
    {
        if (line.Contains((byte)'\r') || line.Contains((byte)0))
            return 400;
        int colon = line.IndexOf((byte)':');
        if (colon <= 0 || !IsToken(line[..colon]))
            return 400;   // no name, or whitespace before the colon (RFC 9112 5.1: must be rejected)
        ReadOnlySpan<byte> name = line[..colon];
        ReadOnlySpan<byte> value = line[(colon + 1)..].Trim(" \t"u8);
        if (Ascii.EqualsIgnoreCase(name, "content-length"u8))
        {
            if (!TryParseLength(value, out long length) || facts.ContentLength >= 0 && facts.ContentLength != length)
                return 400;   // not a number, or two that differ
            facts.ContentLength = length;
        }
        else if (Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8))
            facts.TransferEncoding = true;
        else if (Ascii.EqualsIgnoreCase(name, "connection"u8))
        {
            if (HasToken(value, "close"u8))
                facts.KeepAlive = false;
            else if (HasToken(value, "keep-alive"u8))
                facts.KeepAlive = true;
        }
        return 0;
    }

    // Digits only, at most 18 of them (below long's overflow): no sign, no spaces, no hex.
    private static bool TryParseLength(ReadOnlySpan<byte> value, out long length)
    {
        length = 0;
        if (value.IsEmpty || value.Length > 18)
            return false;
        foreach (byte digit in value)
        {
            if (digit is < (byte)'0' or > (byte)'9')
                return false;
            length = length * 10 + (digit - '0');
        }
        return true;
    }

    // A comma-separated list holding `token`, in any case.
    private static bool HasToken(ReadOnlySpan<byte> list, ReadOnlySpan<byte> token)
    {
        foreach (Range part in list.Split((byte)','))
        {
            if (Ascii.EqualsIgnoreCase(list[part].Trim(" \t"u8), token))
                return true;
        }
        return false;
    }

    // RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    private static bool IsToken(ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty)
            return false;
        foreach (byte c in text)
        {
            if (!(char.IsAsciiLetterOrDigit((char)c) || "!#$%&'*+-.^_`|~"u8.Contains(c)))
                return false;
        }
        return true;
    }

    private static ReadOnlySpan<byte> TrimCr(ReadOnlySpan<byte> line) => line.Length > 0 && line[^1] == (byte)'\r' ? line[..^1] : line;
}
