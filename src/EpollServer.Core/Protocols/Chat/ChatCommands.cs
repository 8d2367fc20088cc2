// The chat commands: /nick, /who, /me, /join, /quit, /help. Commands are rare, so they may allocate.
namespace EpollServer.Protocols.Chat;

public sealed partial class ChatHandler
{
    public const int MaxNickLength = 16;
    public const int MaxRoomLength = 32;

    // /who lists at most this many names, which keeps every reply under ReplyReserve.
    private const int MaxNamesListed = 50;

    // Room an answer to the sender needs: /who's 50 names of 16 chars of up to 3 UTF-8 bytes each, and a header.
    private const int ReplyReserve = 4096;

    // Below this the reserve above could never be free while reading is still on (it pauses at 3/4 full).
    public const int MinOutputBufferSize = ReplyReserve * 4;

    private static readonly string[] HelpLines =
    [
        "* commands:",
        "*   /nick NAME   change your nickname (1 to 16 letters, digits, '_' or '-')",
        "*   /who         list who is in your room",
        "*   /me ACTION   tell the room what you are doing",
        "*   /join ROOM   move to another room (created on first join; #lobby is the default)",
        "*   /quit        leave",
        "*   /help        this list",
        "* anything else goes to everyone in your room",
    ];

    private void RunCommand(ChatClient client, string line)
    {
        int space = line.IndexOf(' ', StringComparison.Ordinal);
        string command = space < 0 ? line : line[..space];
        string argument = space < 0 ? "" : line[(space + 1)..].Trim();
        switch (command.ToLowerInvariant())
        {
            case "/nick": ChangeNick(client, argument); break;
            case "/who": ListRoom(client); break;
            case "/me": Act(client, argument); break;
            case "/join": MoveTo(client, argument.StartsWith('#') ? argument[1..] : argument); break;
            case "/quit": Quit(client); break;
            case "/help":
                foreach (string help in HelpLines)
                    Reply(client, help);
                break;
            default:
                Refuse(client, $"ERR unknown command '{Truncate(command)}'; /help lists the commands");
                break;
        }
    }

    private void ChangeNick(ChatClient client, string nick)
    {
        if (!IsValidName(nick, MaxNickLength))
        {
            Refuse(client, $"ERR nickname must be 1 to {MaxNickLength} letters, digits, '_' or '-'");
            return;
        }
        if (nick == client.Nick)
        {
            Reply(client, $"* you are already {nick}");
            return;
        }
        if (client.PendingNick is not null)
        {
            Refuse(client, "ERR a nickname change is already under way");
            return;
        }
        // Unique under ChatText's fold across every reactor; a client may change the case of its own nickname.
        string old = client.Nick;
        bool sameName = ChatText.SameName(nick, old);
        lock (_directory.Lock)
        {
            if (!sameName && !_directory.TryTakeNick(nick, client))
            {
                Refuse(client, $"ERR nickname '{nick}' is taken");
                return;
            }
        }
        if (_backplane is not null && !sameName)
        {
            RenameAcrossServers(client, nick);
            return;
        }
        lock (_directory.Lock)
        {
            _directory.ReleaseNick(old);
            _directory.TryTakeNick(nick, client);
            client.Rename(nick);
            _backplane?.Enter(nick, client.Room!.Name);   // the same claim: only its spelling changed
        }
        Reply(client, $"* you are now {nick}");
        Notify(client.Room!, client, $"* {old} is now {nick}");
    }

    // Everyone in the room, on every reactor (and, with a backplane, on every server).
    private void ListRoom(ChatClient client)
    {
        List<string> names;
        lock (_directory.Lock)
            names = [.. client.Room!.Members.Select(m => m == client ? m.Nick + " (you)" : m.Nick)];
        if (_backplane is not null)
            ListRoomAcrossServers(client, names);
        else
            Reply(client, WhoLine(client.Room!, names));
    }

    private static string WhoLine(ChatRoom room, List<string> names)
    {
        string more = names.Count > MaxNamesListed ? $" and {names.Count - MaxNamesListed} more" : "";
        return $"* in {room} ({names.Count}): {string.Join(", ", names.Take(MaxNamesListed))}{more}";
    }

    private void Act(ChatClient client, string action)
    {
        if (action.Length == 0)
        {
            Refuse(client, "ERR usage: /me ACTION");
            return;
        }
        Notify(client.Room!, client, $"* {client.Nick} {action}");
    }

    private void MoveTo(ChatClient client, string roomName)
    {
        if (!IsValidName(roomName, MaxRoomLength))
        {
            Refuse(client, $"ERR room name must be 1 to {MaxRoomLength} letters, digits, '_' or '-'");
            return;
        }
        if (ChatText.SameName(roomName, client.Room!.Name))
        {
            Reply(client, $"* you are already in {client.Room}");
            return;
        }
        ChatRoom room;
        lock (_directory.Lock)
            room = _directory.RoomNamed(roomName);
        Leave(client, $"* {client.Nick} left for #{room.Name}");
        int others;
        lock (_directory.Lock)
        {
            // Left empty and forgotten by our own leaving (or someone else's) in the meantime: made anew.
            room = _directory.RoomNamed(roomName);
            others = room.Members.Count;
            AddMember(client, room);
            _backplane?.Move(client.Nick, room.Name);
        }
        Reply(client, $"* you are now in {room} with {Others(others)}");
        Join(client, room);
    }

    // Told before the close, so the room hears "quit" rather than a lost connection.
    private void Quit(ChatClient client)
    {
        Reply(client, $"* bye, {client.Nick}");
        Leave(client, $"* {client.Nick} quit");
        client.Connection.Close();
    }

    private static bool IsValidName(string name, int maxLength) => ChatText.IsValidName(name, maxLength);

    private static string Truncate(string text) => text.Length <= 32 ? text : text[..32] + "...";
}
