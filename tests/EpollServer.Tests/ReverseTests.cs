// reverse: lines reversed by grapheme cluster (Korean, emoji sequences, combining marks), invalid UTF-8 answered
// with an error line while the connection stays open.
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using EpollServer.Protocols;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed class ReverseTests
{
    [Theory]
    [InlineData("hello", "olleh", 1)]
    [InlineData("hello", "olleh", 3)]
    [InlineData("안녕하세요", "요세하녕안", 1)]
    [InlineData("안녕하세요", "요세하녕안", 3)]
    [InlineData("e\u0301a", "ae\u0301", 1)]                                  // e + combining acute stays one character
    [InlineData("e\u0301a", "ae\u0301", 3)]
    [InlineData("한\u1100\u1161글", "글\u1100\u1161한", 1)]                  // a decomposed Hangul syllable (jamo) stays whole
    [InlineData("한\u1100\u1161글", "글\u1100\u1161한", 3)]
    [InlineData("a👨‍👩‍👧b", "b👨‍👩‍👧a", 1)]                                 // a ZWJ family is one cluster
    [InlineData("a👨‍👩‍👧b", "b👨‍👩‍👧a", 3)]
    [InlineData("🇰🇷🇯🇵!", "!🇯🇵🇰🇷", 1)]                                  // regional-indicator pairs are flags
    [InlineData("🇰🇷🇯🇵!", "!🇯🇵🇰🇷", 3)]
    [InlineData("👍🏽 ok", "ko 👍🏽", 1)]                                     // skin-tone modifier stays on its emoji
    [InlineData("👍🏽 ok", "ko 👍🏽", 3)]
    [InlineData("", "", 1)]
    [InlineData("", "", 3)]
    public void ReversesByGraphemeCluster(string line, string expected, int reactors)
    {
        using var server = new TestServer(reactors: reactors, handlers: () => new ReverseHandler());
        using var client = TestClient.Connect(server.Port);
        client.Send(line + "\n");
        Assert.Equal(expected, client.ReadLine());
    }

    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void CrLfLine_ComesBackWithCrLf_AndFinalLineAtEof(int reactors)
    {
        using var server = new TestServer(reactors: reactors, handlers: () => new ReverseHandler());
        using var client = TestClient.Connect(server.Port);
        client.Send("abc\r\nxyz");
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("cba\r\nzyx"u8.ToArray(), client.ReceiveToEnd());
    }

    [Theory]
    [InlineData(new byte[] { 0xC0, 0xAF }, 1)]               // overlong '/'
    [InlineData(new byte[] { 0xC0, 0xAF }, 3)]
    [InlineData(new byte[] { 0x61, 0x80, 0x62 }, 1)]         // a lone continuation byte
    [InlineData(new byte[] { 0x61, 0x80, 0x62 }, 3)]
    [InlineData(new byte[] { 0xE3, 0x81 }, 1)]               // a truncated three-byte sequence
    [InlineData(new byte[] { 0xE3, 0x81 }, 3)]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, 1)]         // an encoded UTF-16 surrogate
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, 3)]
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 }, 1)]   // beyond U+10FFFF
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 }, 3)]
    public void InvalidUtf8_GetsAnErrorLine_AndTheConnectionStaysOpen(byte[] invalid, int reactors)
    {
        using var server = new TestServer(reactors: reactors, handlers: () => new ReverseHandler());
        using var client = TestClient.Connect(server.Port);
        client.Send([.. invalid, (byte)'\n']);
        Assert.Equal("ERR line is not valid UTF-8", client.ReadLine());
        client.Send("still open\n");
        Assert.Equal("nepo llits", client.ReadLine());
        Assert.Equal(1, server.HandlerCounter("invalid-utf8-lines"));
    }

    // Multi-byte characters in random chunks through a 256-byte ring, checked against a reference built on a
    // different API (the enumerator over text elements).
    [Theory]
    [ClassData(typeof(ReactorCounts))]
    public void KoreanAndEmojiLines_AcrossTheRingWrap_MatchTheReference(int reactors)
    {
        using var server = new TestServer(configure: o => o.InputBufferSize = 256, reactors: reactors, handlers: () => new ReverseHandler(maxLineLength: 120));
        using var client = TestClient.Connect(server.Port);
        string[] alphabet = ["가", "나", "다", "한", "글", "a", "b", "é", "👍🏽", "🇰🇷", "e\u0301", " "];
        var random = new Random(7);
        var lines = new List<string>();
        for (int i = 0; i < 3000; i++)
        {
            var line = new StringBuilder();
            int count = random.Next(0, 25);
            for (int j = 0; j < count; j++)
                line.Append(alphabet[random.Next(alphabet.Length)]);
            lines.Add(line.ToString());
        }
        byte[] input = Encoding.UTF8.GetBytes(string.Concat(lines.Select(l => l + "\n")));
        var receiving = Task.Run(() => lines.Select(_ => client.ReadLine()).ToList());
        for (int sent = 0; sent < input.Length;)
        {
            int chunk = Math.Min(random.Next(1, 300), input.Length - sent);
            client.Send(input.AsSpan(sent, chunk));
            sent += chunk;
        }
        Assert.True(receiving.Wait(30_000), "not every line came back");
        Assert.Equal(lines.Select(Reference), receiving.Result);
    }

    private static string Reference(string line)
    {
        var clusters = new List<string>();
        TextElementEnumerator elements = StringInfo.GetTextElementEnumerator(line);
        while (elements.MoveNext())
            clusters.Add(elements.GetTextElement());
        clusters.Reverse();
        return string.Concat(clusters);
    }
}
