// One HTTP/1.x request head (request line and field lines, RFC 9112), parsed in place over the bytes that hold it: no
// copy, no allocation. Only what this server acts on is kept: the method, the path and authority, the version,
// whether the client wants the connection kept, the body's framing and a 100-continue expectation. Anything
// malformed, and every framing that could be read two ways (the request-smuggling shapes), is an error with the
// status to answer it with. The checks run in a fixed order, which the tests' reference judge follows: the request
// line (400, then 505), each field line in turn (431 past the field limit, 400 for a bad line, a bad Host or
// Content-Length), then Host's count, the framings (400, 501) and the expectation (417).
using System.Text;
using static EpollServer.Protocols.Http.HttpFieldRules;

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

    // The request target's path, without its query: of an origin-form target, or of an absolute-form one ("/" when
    // it has none); "*" for OPTIONS *; empty for CONNECT's authority-form.
    public ReadOnlySpan<byte> Path { get; init; }

    // host[:port] the request is for: an absolute-form target's authority, which wins over Host (RFC 9112 3.2.2),
    // else the Host field's value; empty for an HTTP/1.0 request without Host.
    public ReadOnlySpan<byte> Authority { get; init; }

    // 0 for HTTP/1.0, 1 for HTTP/1.1.
    public int MinorVersion { get; init; }

    // HTTP/1.1 keeps the connection unless a `close` token is in any Connection line; HTTP/1.0 closes unless one
    // says `keep-alive` (and none says `close`).
    public bool KeepAlive { get; init; }

    public long ContentLength { get; init; }

    // Transfer-Encoding: chunked, the only coding accepted.
    public bool Chunked { get; init; }

    // An HTTP/1.1 `Expect: 100-continue` (HTTP/1.0's is ignored, as RFC 9110 10.1.1 says).
    public bool ExpectContinue { get; init; }

    // CONNECT with an authority-form target: answered 405 and closed (a client may follow it with tunnel bytes).
    public bool IsConnect { get; init; }

    // Parses `head`: the request line and the field lines, up to and without the empty line that ends them. Every
    // line ends in CRLF when `crlf`, else in a bare LF (the framing has checked that they all do, and kept no line
    // end but the last one's CR here); a CR anywhere else is a control character. `maxFields` bounds the field
    // lines. Returns 0, or the status that refuses the request.
    public static int Parse(ReadOnlySpan<byte> head, bool crlf, int maxFields, out HttpRequestHead request)
    {
        request = default;
        int lineEnd = head.IndexOf((byte)'\n');
        ReadOnlySpan<byte> requestLine = Strip(lineEnd < 0 ? head : head[..lineEnd], crlf);
        var facts = new Facts();
        if (ReadRequestLine(requestLine, ref facts) is int refused and > 0)
            return refused;
        ReadOnlySpan<byte> rest = lineEnd < 0 ? default : head[(lineEnd + 1)..];
        for (int fields = 1; !rest.IsEmpty; fields++)
        {
            int end = rest.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = Strip(end < 0 ? rest : rest[..end], crlf);
            rest = end < 0 ? default : rest[(end + 1)..];
            if (fields > maxFields)
                return 431;
            if (ReadField(line, ref facts) is int bad and > 0)
                return bad;
        }
        if (Conclude(ref facts) is int wrong and > 0)
            return wrong;
        request = new HttpRequestHead
        {
            Method = facts.Method.SequenceEqual("GET"u8) ? HttpMethod.Get : facts.Method.SequenceEqual("HEAD"u8) ? HttpMethod.Head : HttpMethod.Other,
            MethodName = facts.Method,
            Path = facts.Path,
            Authority = facts.TargetAuthority.IsEmpty ? facts.Host : facts.TargetAuthority,
            MinorVersion = facts.Minor,
            KeepAlive = !facts.Close && (facts.Minor == 1 || facts.KeepAliveAsked),
            ContentLength = Math.Max(0, facts.ContentLength),
            Chunked = facts.Codings > 0,
            ExpectContinue = facts.ExpectContinue,
            IsConnect = facts.IsConnect,
        };
        return 0;
    }

    // What the lines have said so far.
    private ref struct Facts
    {
        public ReadOnlySpan<byte> Method, Path, TargetAuthority, Host;
        public int Minor, Hosts, Codings;
        public long ContentLength;   // -1: none given
        public bool Close, KeepAliveAsked, TransferEncoding, CodingRefused, ExpectContinue, ExpectRefused, IsConnect;

        public Facts() => ContentLength = -1;
    }

    // method SP request-target SP HTTP-version, single spaces; the target by RFC 9112 3.2's four forms.
    private static int ReadRequestLine(ReadOnlySpan<byte> line, ref Facts facts)
    {
        int firstSpace = line.IndexOf((byte)' ');
        int lastSpace = line.LastIndexOf((byte)' ');
        if (firstSpace <= 0 || lastSpace <= firstSpace + 1)
            return 400;
        facts.Method = line[..firstSpace];
        ReadOnlySpan<byte> target = line[(firstSpace + 1)..lastSpace];
        ReadOnlySpan<byte> version = line[(lastSpace + 1)..];
        if (!IsToken(facts.Method) || ReadTarget(target, ref facts) != 0)
            return 400;
        if (version.SequenceEqual("HTTP/1.1"u8))
            facts.Minor = 1;
        else if (version.SequenceEqual("HTTP/1.0"u8))
            facts.Minor = 0;
        else
            return version.StartsWith("HTTP/"u8) && version.Length == 8 && char.IsAsciiDigit((char)version[5]) ? 505 : 400;
        return 0;
    }

    // origin-form (/path?query), absolute-form (http[s]://authority/path?query), asterisk-form for OPTIONS only,
    // authority-form (host:port) for CONNECT only. No space or control character anywhere in it.
    private static int ReadTarget(ReadOnlySpan<byte> target, ref Facts facts)
    {
        if (target.IndexOfAnyInRange((byte)0, (byte)' ') >= 0 || target.Contains((byte)0x7F))
            return 400;
        if (facts.Method.SequenceEqual("CONNECT"u8))
        {
            facts.IsConnect = true;
            int colon = target.LastIndexOf((byte)':');
            bool hasPort = colon > target.LastIndexOf((byte)']') && colon > 0 && colon < target.Length - 1;
            return hasPort && IsHostAndPort(target) ? 0 : 400;   // authority-form is host:port, the port given
        }
        if (target[0] == (byte)'/')
        {
            facts.Path = BeforeQuery(target);
            return 0;
        }
        if (target.SequenceEqual("*"u8))
            return facts.Method.SequenceEqual("OPTIONS"u8) ? SetPath(ref facts, target) : 400;
        return ReadAbsoluteTarget(target, ref facts);
    }

    private static int SetPath(ref Facts facts, ReadOnlySpan<byte> path)
    {
        facts.Path = path;
        return 0;
    }

    private static int ReadAbsoluteTarget(ReadOnlySpan<byte> target, ref Facts facts)
    {
        int schemeEnd = target.IndexOf("://"u8);
        if (schemeEnd < 0 || !Ascii.EqualsIgnoreCase(target[..schemeEnd], "http"u8) && !Ascii.EqualsIgnoreCase(target[..schemeEnd], "https"u8))
            return 400;
        ReadOnlySpan<byte> afterScheme = target[(schemeEnd + 3)..];
        int authorityEnd = afterScheme.IndexOfAny((byte)'/', (byte)'?');
        ReadOnlySpan<byte> authority = authorityEnd < 0 ? afterScheme : afterScheme[..authorityEnd];
        if (!IsHostAndPort(authority))
            return 400;
        facts.TargetAuthority = authority;
        ReadOnlySpan<byte> path = BeforeQuery(authorityEnd < 0 ? default : afterScheme[authorityEnd..]);
        facts.Path = path.IsEmpty ? "/"u8 : path;
        return 0;
    }

    private static ReadOnlySpan<byte> BeforeQuery(ReadOnlySpan<byte> target)
    {
        int query = target.IndexOf((byte)'?');
        return query < 0 ? target : target[..query];
    }

    // One field line; 0, or the status that refuses the request.
    private static int ReadField(ReadOnlySpan<byte> line, ref Facts facts)
    {
        if (!TrySplitField(line, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value))
            return 400;   // no name, whitespace before the colon or at the line's start, a control character
        if (Ascii.EqualsIgnoreCase(name, "content-length"u8))
        {
            if (!TryParseLength(value, out long length) || facts.ContentLength >= 0 && facts.ContentLength != length)
                return 400;   // not a number, or two that differ
            facts.ContentLength = length;
        }
        else if (Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8))
            ReadCodings(value, ref facts);
        else if (Ascii.EqualsIgnoreCase(name, "connection"u8))
        {
            facts.Close |= HasToken(value, "close"u8);
            facts.KeepAliveAsked |= HasToken(value, "keep-alive"u8);
        }
        else if (Ascii.EqualsIgnoreCase(name, "host"u8))
        {
            if (!IsHostAndPort(value))
                return 400;
            facts.Hosts++;
            facts.Host = value;
        }
        else if (Ascii.EqualsIgnoreCase(name, "expect"u8) && facts.Minor == 1)
        {
            bool continues = Ascii.EqualsIgnoreCase(value, "100-continue"u8);
            facts.ExpectContinue |= continues;
            facts.ExpectRefused |= !continues;
        }
        return 0;
    }

    // Every coding of every Transfer-Encoding line: only one, `chunked`, is served.
    private static void ReadCodings(ReadOnlySpan<byte> value, ref Facts facts)
    {
        facts.TransferEncoding = true;
        foreach (Range part in value.Split((byte)','))
        {
            ReadOnlySpan<byte> coding = value[part].Trim(" \t"u8);
            if (coding.IsEmpty)
                continue;
            facts.Codings++;
            facts.CodingRefused |= !Ascii.EqualsIgnoreCase(coding, "chunked"u8) || facts.Codings > 1;
        }
    }

    // What only the whole head can say.
    private static int Conclude(ref Facts facts)
    {
        if (facts.Hosts > 1 || facts.Hosts == 0 && facts.Minor == 1)
            return 400;   // RFC 9112 3.2: none in HTTP/1.1, or more than one in any
        if (facts.TransferEncoding && (facts.ContentLength >= 0 || facts.Minor == 0 || facts.Codings == 0))
            return 400;   // both framings, which a proxy and this server could each read the other way (6.1, 6.3)
        if (facts.CodingRefused)
            return 501;
        return facts.ExpectRefused ? 417 : 0;
    }

    private static ReadOnlySpan<byte> Strip(ReadOnlySpan<byte> line, bool crlf) => crlf && line.Length > 0 && line[^1] == (byte)'\r' ? line[..^1] : line;
}
