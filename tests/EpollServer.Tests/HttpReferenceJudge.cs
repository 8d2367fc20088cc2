// The tests' own statement of the HTTP request rules (README's HTTP section, native-notes/limits.md), written again on
// Latin-1 strings with regular expressions and none of the parser's code: for a byte stream, the answers a server
// keeping those rules sends, in order. A head starts after at most 1 KiB of empty lines (CRLF or LF); its request line
// says how every line of it ends (CRLF, or a bare LF), and a line that ends the other way is 400 as soon as it is
// seen; the head ends at the first empty line. Then, in this order: the request line (token SP target SP version, the
// target in origin-, absolute- (http/https), asterisk- (OPTIONS) or authority-form (CONNECT), free of spaces and
// control characters; another HTTP/d.d 505, anything else 400), each field line (past 100 of them 431; a token name,
// a colon, a value without control characters; Host host[:port] by RFC 3986; Content-Length 1 to 18 digits, one
// value), then Host's count (one, or none in HTTP/1.0), the framings (CL with TE, TE in HTTP/1.0 or empty: 400;
// anything but one `chunked`: 501), the expectation (HTTP/1.1 `100-continue` or 417), the length (over 1 MiB 413). A
// body is read before the answer: 100 Continue first when expected, chunks decoded (1-8 hex digits, extensions
// without control characters, the data's line end, trailers like fields; the decoded size over 1 MiB 413, anything
// else wrong 400). GET and HEAD of /plaintext and /json are 200, other paths 404, other methods 405; CONNECT closes,
// as do HTTP/1.0 without keep-alive and any `close` token; every refusal closes.
using System.Text;
using System.Text.RegularExpressions;

namespace EpollServer.Tests;

internal static class HttpReferenceJudge
{
    public readonly record struct Answer(int Status, bool Closes, bool Head);

    private const string TokenChars = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
    private static readonly Regex Token = new($"^{TokenChars}+\\z");
    private static readonly Regex RequestLine = new("^([^ ]+) ([^ ]+) ([^ ]*)\\z");
    private static readonly Regex Control = new("[\\x00-\\x08\\x0A-\\x1F\\x7F]");
    private static readonly Regex HostAndPort = new(
        "^(\\[(?:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*|[vV][0-9A-Fa-f]+\\.[A-Za-z0-9\\-._~!$&'()*+,;=:]+)\\]" +
        "|(?:[A-Za-z0-9\\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)(:[0-9]{0,5})?\\z");
    private static readonly Regex Absolute = new("^[hH][tT][tT][pP][sS]?://([^/?]*)(.*)\\z");
    private static readonly Regex ChunkSize = new("^([0-9A-Fa-f]{1,8})([;\\t ].*)?\\z");

    public static List<Answer> AnswersTo(byte[] input)
    {
        Assert.True(input.Length < 8 * 1024, "the rules here leave out the size limits of lines and heads");
        var reader = new Lines(Encoding.Latin1.GetString(input));
        var answers = new List<Answer>();
        while (!reader.AtEnd && Request(reader, answers))
        {
        }
        return answers;
    }

    // One request: false when nothing after it is read (a close, or input that ended inside it).
    private static bool Request(Lines reader, List<Answer> answers)
    {
        int blank = reader.SkipEmptyLines();
        if (blank > 1024)
            return Refused(answers, 400);
        var head = new List<string>();
        if (reader.NextLine(decideEnding: true) is not { } first)
            return false;
        head.Add(first);
        while (true)
        {
            string? line = reader.NextLine(decideEnding: false);
            if (line is null)
                return reader.Mixed ? Refused(answers, 400) : false;
            if (line.Length == 0)
                break;
            head.Add(line);
        }
        Verdict verdict = Judge(head);
        if (verdict.Status != 0)
            return Refused(answers, verdict.Status);
        if (verdict.ExpectContinue && (verdict.Length > 0 || verdict.Chunked))
            answers.Add(new Answer(100, false, true));
        int bodyStatus = verdict.Chunked ? Chunked(reader) : reader.Skip(verdict.Length) ? 0 : -1;
        if (bodyStatus != 0)
            return bodyStatus > 0 && Refused(answers, bodyStatus);
        answers.Add(new Answer(verdict.Answer, !verdict.KeepAlive, verdict.IsHead));
        return verdict.KeepAlive;
    }

    private static bool Refused(List<Answer> answers, int status)
    {
        answers.Add(new Answer(status, true, false));
        return false;
    }

    private sealed record Verdict(int Status, int Answer = 0, bool KeepAlive = false, bool IsHead = false, long Length = 0,
        bool Chunked = false, bool ExpectContinue = false);

    private static Verdict Judge(List<string> lines)
    {
        Match request = RequestLine.Match(lines[0]);
        if (!request.Success || !Token.IsMatch(request.Groups[1].Value))
            return new Verdict(400);
        string method = request.Groups[1].Value, target = request.Groups[2].Value, version = request.Groups[3].Value;
        string? path = TargetPath(method, target);
        if (path is null)
            return new Verdict(400);
        if (version is not ("HTTP/1.1" or "HTTP/1.0"))
            return new Verdict(version.Length == 8 && version.StartsWith("HTTP/", StringComparison.Ordinal) && version[5] is >= '0' and <= '9' ? 505 : 400);
        bool http11 = version == "HTTP/1.1";
        var fields = new Fields();
        for (int i = 1; i < lines.Count; i++)
        {
            if (i > 100)
                return new Verdict(431);
            if (!fields.Add(lines[i], http11))
                return new Verdict(400);
        }
        if (fields.Hosts > 1 || fields.Hosts == 0 && http11)
            return new Verdict(400);
        if (fields.TransferEncoding && (fields.Length >= 0 || !http11 || fields.Codings.Count == 0))
            return new Verdict(400);
        if (fields.TransferEncoding && !(fields.Codings.Count == 1 && fields.Codings[0] == "chunked"))
            return new Verdict(501);
        if (fields.ExpectRefused)
            return new Verdict(417);
        if (fields.Length > 1 << 20)
            return new Verdict(413);
        bool keepAlive = !fields.Close && (http11 || fields.KeepAlive) && method != "CONNECT";
        int answer = method is not ("GET" or "HEAD") ? 405 : path is "/plaintext" or "/json" ? 200 : 404;
        return new Verdict(0, answer, keepAlive, method == "HEAD", Math.Max(0, fields.Length), fields.TransferEncoding, fields.ExpectContinue);
    }

    // The path a target routes to, or null when the target is not valid for the method.
    private static string? TargetPath(string method, string target)
    {
        if (target.Any(c => c <= ' ' || c == '\x7F'))
            return null;
        if (method == "CONNECT")
            return Regex.IsMatch(target, ":[0-9]+\\z") && HostAndPort.IsMatch(target) ? "" : null;
        if (target.StartsWith('/'))
            return target.Split('?')[0];
        if (target == "*")
            return method == "OPTIONS" ? "*" : null;
        Match absolute = Absolute.Match(target);
        if (!absolute.Success || !HostAndPort.IsMatch(absolute.Groups[1].Value))
            return null;
        string path = absolute.Groups[2].Value.Split('?')[0];
        return path.Length == 0 ? "/" : path;
    }

    private sealed class Fields
    {
        public int Hosts;
        public long Length = -1;
        public bool TransferEncoding, Close, KeepAlive, ExpectContinue, ExpectRefused;
        public List<string> Codings { get; } = [];

        public bool Add(string line, bool http11)
        {
            int colon = line.IndexOf(':');
            if (colon <= 0 || !Token.IsMatch(line[..colon]) || Control.IsMatch(line[(colon + 1)..]))
                return false;
            string name = Lower(line[..colon]), value = line[(colon + 1)..].Trim(' ', '\t');
            List<string> items = [.. value.Split(',').Select(t => t.Trim(' ', '\t')).Where(t => t.Length > 0)];
            switch (name)
            {
                case "content-length":
                    if (!Regex.IsMatch(value, "^[0-9]{1,18}\\z") || Length >= 0 && Length != long.Parse(value))
                        return false;
                    Length = long.Parse(value);
                    break;
                case "transfer-encoding":
                    TransferEncoding = true;
                    Codings.AddRange(items.Select(Lower));
                    break;
                case "connection":
                    Close |= items.Any(t => Lower(t) == "close");
                    KeepAlive |= items.Any(t => Lower(t) == "keep-alive");
                    break;
                case "host":
                    Hosts++;
                    return HostAndPort.IsMatch(value);
                case "expect" when http11:
                    ExpectContinue |= Lower(value) == "100-continue";
                    ExpectRefused |= Lower(value) != "100-continue";
                    break;
            }
            return true;
        }
    }

    // A chunked body: 0 when read whole, -1 when the input ended inside it, else the refusal.
    private static int Chunked(Lines reader)
    {
        long decoded = 0;
        while (true)
        {
            if (reader.NextLine(decideEnding: false) is not { } sizeLine)
                return reader.Mixed ? 400 : -1;
            Match size = ChunkSize.Match(sizeLine);
            if (!size.Success || Control.IsMatch(size.Groups[2].Value))
                return 400;
            long length = Convert.ToInt64(size.Groups[1].Value, 16);
            if ((decoded += length) > 1 << 20)
                return 413;
            if (length == 0)
                return Trailers(reader);
            if (!reader.Skip(length))
                return -1;
            if (reader.NextLine(decideEnding: false) is not { } end)
                return reader.Mixed ? 400 : -1;
            if (end.Length > 0)
                return 400;
        }
    }

    private static int Trailers(Lines reader)
    {
        var fields = new Fields();
        for (int count = 1; ; count++)
        {
            if (reader.NextLine(decideEnding: false) is not { } line)
                return reader.Mixed ? 400 : -1;
            if (line.Length == 0)
                return 0;
            if (count > 100)
                return 431;
            int colon = line.IndexOf(':');
            if (colon <= 0 || !Token.IsMatch(line[..colon]) || Control.IsMatch(line[(colon + 1)..]))
                return 400;
        }
    }

    private static string Lower(string text) => string.Concat(text.Select(c => c is >= 'A' and <= 'Z' ? (char)(c + 32) : c));

    // The input as lines, each ending the way the request line of the current head did.
    private sealed class Lines(string text)
    {
        private int _at;
        private bool _crlf;

        public bool AtEnd => _at >= text.Length;

        // The last NextLine returned null because its line ended the other way.
        public bool Mixed { get; private set; }

        public int SkipEmptyLines()
        {
            int start = _at;
            while (_at < text.Length && (text[_at] == '\n' || text[_at] == '\r' && _at + 1 < text.Length && text[_at + 1] == '\n'))
                _at += text[_at] == '\n' ? 1 : 2;
            return _at - start;
        }

        // The next line without its ending; null when no LF comes (or, Mixed, when it ends the other way).
        public string? NextLine(bool decideEnding)
        {
            Mixed = false;
            int lf = text.IndexOf('\n', _at);
            if (lf < 0)
                return null;
            bool cr = lf > _at && text[lf - 1] == '\r';
            if (decideEnding)
                _crlf = cr;
            else if (cr != _crlf)
            {
                Mixed = true;
                return null;
            }
            string line = text[_at..(cr ? lf - 1 : lf)];
            _at = lf + 1;
            return line;
        }

        public bool Skip(long count)
        {
            if (text.Length - _at < count)
                return false;
            _at += (int)count;
            return true;
        }
    }
}
