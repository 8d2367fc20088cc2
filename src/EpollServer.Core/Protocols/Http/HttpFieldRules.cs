// The byte-level rules a head and a chunked body's trailers share (RFC 9110 5, RFC 9112 5, RFC 3986 3.2.2): tokens,
// field lines, control characters, Host's host[:port], numbers. Spans in, answers out: nothing is allocated.
using System.Text;

namespace EpollServer.Protocols.Http;

internal static class HttpFieldRules
{
    public static readonly System.Buffers.SearchValues<byte> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF"u8);

    private static readonly System.Buffers.SearchValues<byte> Ipv6Chars = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF:."u8);

    // RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    public static bool IsToken(ReadOnlySpan<byte> text)
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

    // A control character: 0x00-0x1F but HT, and DEL (0x7F). None may appear in a target, a name or a value.
    public static bool HasControl(ReadOnlySpan<byte> text)
    {
        foreach (byte c in text)
        {
            if (c is < 0x20 and not (byte)'\t' or 0x7F)
                return true;
        }
        return false;
    }

    // `name: value` (RFC 9112 5): a token, a colon right after it (no whitespace before it: 5.1), a value without
    // control characters, trimmed of SP and HT. A line starting with whitespace (obs-fold) has no token: refused.
    public static bool TrySplitField(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        int colon = line.IndexOf((byte)':');
        name = colon > 0 ? line[..colon] : default;
        value = colon > 0 ? line[(colon + 1)..].Trim(" \t"u8) : default;
        return colon > 0 && IsToken(name) && !HasControl(line[(colon + 1)..]);
    }

    // Digits only, at most 18 of them (below long's overflow): no sign, no spaces, no hex.
    public static bool TryParseLength(ReadOnlySpan<byte> value, out long length)
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
    public static bool HasToken(ReadOnlySpan<byte> list, ReadOnlySpan<byte> token)
    {
        foreach (Range part in list.Split((byte)','))
        {
            if (Ascii.EqualsIgnoreCase(list[part].Trim(" \t"u8), token))
                return true;
        }
        return false;
    }

    // Host = uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an IP literal in brackets or a non-empty reg-name
    // (unreserved, pct-encoded, sub-delims: an IPv4 address is one), then up to 5 port digits. Empty is refused, as
    // nginx refuses it; so is userinfo ("user@host"), which RFC 9110 4.2.4 calls an error.
    public static bool IsHostAndPort(ReadOnlySpan<byte> authority)
    {
        int hostEnd = authority.StartsWith("["u8) ? authority.IndexOf((byte)']') + 1 : authority.IndexOf((byte)':');
        if (hostEnd < 0)
            hostEnd = authority.Length;
        if (hostEnd == 0)
            return false;
        ReadOnlySpan<byte> host = authority[..hostEnd], port = authority[hostEnd..];
        if (!port.IsEmpty && (port[0] != (byte)':' || port.Length > 6 || port[1..].ContainsAnyExceptInRange((byte)'0', (byte)'9')))
            return false;
        return host[0] == (byte)'[' ? IsIpLiteral(host) : IsRegName(host);
    }

    private static bool IsRegName(ReadOnlySpan<byte> host)
    {
        for (int i = 0; i < host.Length; i++)
        {
            byte c = host[i];
            if (c == (byte)'%')
            {
                if (i + 2 >= host.Length || !char.IsAsciiHexDigit((char)host[i + 1]) || !char.IsAsciiHexDigit((char)host[i + 2]))
                    return false;
                i += 2;
            }
            else if (!IsUnreserved(c) && !"!$&'()*+,;="u8.Contains(c))
                return false;
        }
        return true;
    }

    // "[" IPv6address / IPvFuture "]": hex digits, colons and dots (an embedded IPv4), or v<hex>.<chars>.
    private static bool IsIpLiteral(ReadOnlySpan<byte> host)
    {
        if (host.Length < 3 || host[^1] != (byte)']')
            return false;
        ReadOnlySpan<byte> inside = host[1..^1];
        if (inside[0] is (byte)'v' or (byte)'V')
        {
            int dot = inside.IndexOf((byte)'.');
            return dot > 1 && !inside[1..dot].ContainsAnyExcept(HexDigits) && dot + 1 < inside.Length
                && IsFutureTail(inside[(dot + 1)..]);
        }
        return inside.Contains((byte)':') && !inside.ContainsAnyExcept(Ipv6Chars);
    }

    private static bool IsFutureTail(ReadOnlySpan<byte> tail)
    {
        foreach (byte c in tail)
        {
            if (!IsUnreserved(c) && !"!$&'()*+,;=:"u8.Contains(c))
                return false;
        }
        return true;
    }

    private static bool IsUnreserved(byte c) => char.IsAsciiLetterOrDigit((char)c) || c is (byte)'-' or (byte)'.' or (byte)'_' or (byte)'~';
}
