// The one set of rules for what chat text may contain, shared by lines typed here and lines from other servers:
// nicknames (one fold, and no invisible or direction-changing characters), and lines (strict UTF-8, no C0, C1 or
// bidirectional controls, one line). A line from another server must also have the shape this server publishes.
using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace EpollServer.Protocols.Chat;

public static class ChatText
{
    public enum LineProblem { None, NotUtf8, Control, Formatting }

    // C0 controls (TAB aside) and DEL: relayed to other people's terminals they would move cursors and clear
    // screens (ESC sequences), so a line carrying one is refused. LF and CR are among them: a line is one line.
    private static readonly SearchValues<byte> ControlBytes = SearchValues.Create(
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127]);

    // The first UTF-8 byte of every character FormattingAt looks at: C1 (C2 80..9F), U+061C (D8 9C), and the
    // U+200x/U+206x controls (E2 80 xx, E2 81 xx).
    private static readonly SearchValues<byte> FormattingLeads = SearchValues.Create([0xC2, 0xD8, 0xE2]);

    // Nicknames (and room names) are compared, held in the directory and keyed in Redis by this fold alone:
    // Unicode's simple lower-case mapping (invariant), so that the Kelvin sign K (U+212A), 'K' and 'k' are one name
    // everywhere. (OrdinalIgnoreCase upper-cases instead, and keeps the Kelvin sign apart from 'k'.)
    public static string Fold(string name) => name.ToLowerInvariant();

    public static bool SameName(string a, string b) => string.Equals(Fold(a), Fold(b), StringComparison.Ordinal);

    // Names as the directory and the backplane key them: equal when their folds are.
    public static IEqualityComparer<string> NameComparer { get; } = new FoldComparer();

    // Letters and digits of any script (Hangul included), '_' and '-', up to maxLength chars; never a control, a
    // bidirectional override or isolate, or a zero-width character (they make two names look alike).
    public static bool IsValidName(ReadOnlySpan<char> name, int maxLength)
    {
        if (name.Length is 0 || name.Length > maxLength)
            return false;
        foreach (char c in name)
        {
            if (IsInvisibleOrControl(c) || (!char.IsLetterOrDigit(c) && c is not '_' and not '-'))
                return false;
        }
        return true;
    }

    public static bool IsValidNick(ReadOnlySpan<char> nick) => IsValidName(nick, ChatHandler.MaxNickLength);

    // C0/C1 controls, bidirectional marks, embeddings, overrides and isolates, zero-width characters, and the
    // Hangul fillers (letters, to char.IsLetter, that show nothing: the classic invisible nickname).
    public static bool IsInvisibleOrControl(char c) =>
        char.IsControl(c) || IsBidiControl(c) || c is '\u200B' or '\u200C' or '\u200D' or '\u2060' or '\uFEFF'
            or '\u115F' or '\u1160' or '\u3164' or '\uFFA0';

    private static bool IsBidiControl(char c) => c is '\u200E' or '\u200F' or '\u061C' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');

    // What is wrong with a line's text (without its line ending), if anything; no allocation.
    public static LineProblem Check(ReadOnlySpan<byte> text)
    {
        if (!Utf8.IsValid(text))
            return LineProblem.NotUtf8;
        if (text.ContainsAny(ControlBytes))
            return LineProblem.Control;
        return HasFormatting(text) ? LineProblem.Formatting : LineProblem.None;
    }

    // Valid UTF-8 assumed: a C1 control or a bidirectional control anywhere in the text.
    private static bool HasFormatting(ReadOnlySpan<byte> text)
    {
        for (int i = text.IndexOfAny(FormattingLeads); i >= 0 && i + 1 < text.Length; i = Next(text, i))
        {
            byte b1 = text[i + 1];
            if (text[i] == 0xC2 ? b1 <= 0x9F : text[i] == 0xD8 ? b1 == 0x9C : i + 2 < text.Length && IsBidiTail(b1, text[i + 2]))
                return true;
        }
        return false;
    }

    private static int Next(ReadOnlySpan<byte> text, int i)
    {
        int next = text[(i + 1)..].IndexOfAny(FormattingLeads);
        return next < 0 ? -1 : i + 1 + next;
    }

    // E2 80 8E/8F (LRM, RLM), E2 80 AA..AE (embeddings, overrides), E2 81 A6..A9 (isolates).
    private static bool IsBidiTail(byte b1, byte b2) =>
        (b1 == 0x80 && (b2 is 0x8E or 0x8F || b2 is >= 0xAA and <= 0xAE)) || (b1 == 0x81 && b2 is >= 0xA6 and <= 0xA9);

    // A line from another server: within `maxLength` bytes, passing Check, and shaped as this server publishes
    // one: "<NICK> text" (a message) or "* NICK text" (a notice: joined, left, quit, is now, /me), NICK valid.
    public static bool IsPublishedLine(ReadOnlySpan<byte> line, int maxLength)
    {
        if (line.Length > maxLength || Check(line) != LineProblem.None)
            return false;
        if (line.StartsWith("<"u8))
            return HasNickThenText(line[1..], "> "u8);
        if (line.StartsWith("* "u8))
            return HasNickThenText(line[2..], " "u8);
        return false;
    }

    private static bool HasNickThenText(ReadOnlySpan<byte> rest, ReadOnlySpan<byte> separator)
    {
        int end = rest.IndexOf(separator);
        if (end <= 0 || end > ChatHandler.MaxNickLength * 3 || end + separator.Length == rest.Length)
            return false;
        Span<char> nick = stackalloc char[ChatHandler.MaxNickLength * 3];
        int chars = Encoding.UTF8.GetChars(rest[..end], nick);
        return IsValidNick(nick[..chars]);
    }

    private sealed class FoldComparer : IEqualityComparer<string>
    {
        public bool Equals(string? x, string? y) => x is null || y is null ? x == y : SameName(x, y);

        public int GetHashCode(string name) => StringComparer.Ordinal.GetHashCode(Fold(name));
    }
}
