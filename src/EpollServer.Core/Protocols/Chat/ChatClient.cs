// One chat participant: the connection, its nickname (kept encoded, for the hot path) and its room.
using System.Text;
using EpollServer.Net;

namespace EpollServer.Protocols.Chat;

internal sealed class ChatClient(ChatHandler owner, Connection connection, string nick)
{
    // The handler of the reactor the connection lives on: where anything for this client is posted.
    public ChatHandler Owner { get; } = owner;

    public Connection Connection { get; } = connection;

    public string Nick { get; private set; } = nick;

    // "<nick> " as UTF-8, the prefix of every message this client sends.
    public byte[] MessagePrefix { get; private set; } = Prefix(nick);

    public ChatRoom? Room { get; set; }

    // Telnet sends CR LF and expects it back; nc sends LF. Each client gets the ending it last used.
    public bool UsesCrLf { get; set; }

    // Over its output cap and about to be disconnected: broadcasts pass it by from now on.
    public bool Dropped { get; set; }

    // A /nick waiting for the backplane's answer: the nickname asked for (held in the directory meanwhile).
    public string? PendingNick { get; set; }

    public ReadOnlySpan<byte> LineEnding => UsesCrLf ? "\r\n"u8 : "\n"u8;

    public void Rename(string nick)
    {
        Nick = nick;
        MessagePrefix = Prefix(nick);
    }

    private static byte[] Prefix(string nick) => Encoding.UTF8.GetBytes($"<{nick}> ");
}
