// A chat user for the backplane tests: a line client on one daemon that knows its nickname, reads past the lines
// it does not wait for (other people's notices arrive whenever their daemons send them), and fails with what it did
// read when the awaited line does not come.
using System.Diagnostics;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed partial class RedisBackplaneTests
{
    private sealed class ChatUser : IDisposable
    {
        private readonly List<string> _seen = [];

        private ChatUser(TestClient client, string nick)
        {
            Client = client;
            Nick = nick;
        }

        public TestClient Client { get; }

        public string Nick { get; private set; }

        // Connects, reads the welcome (and the notice when Redis is away), and takes `nick` when one is given.
        public static ChatUser Join(DaemonProcess daemon, string? nick = null, bool expectBackplaneDown = false)
        {
            var client = TestClient.Connect(daemon.Port);
            string welcome = client.ReadLine()!;
            Assert.StartsWith(ChatHandler.WelcomePrefix + ": you are ", welcome);
            var user = new ChatUser(client, welcome[(ChatHandler.WelcomePrefix.Length + ": you are ".Length)..].Split(' ')[0]);
            if (expectBackplaneDown)
                Assert.Equal(ChatHandler.BackplaneLostNotice, client.ReadLine());
            if (nick is not null)
            {
                user.Send($"/nick {nick}");
                Assert.Equal($"* you are now {nick}", user.AnswerToNick(nick));
                user.Nick = nick;
            }
            return user;
        }

        public void Send(string line) => Client.Send(line + "\n");

        public string Next()
        {
            string line = Client.ReadLine() ?? throw new Xunit.Sdk.XunitException($"{Nick}: EOF; read before: {Seen()}");
            _seen.Add(line);
            return line;
        }

        // The next line `match` accepts, skipping others, within `timeoutMs`.
        public string NextWhere(Func<string, bool> match, int timeoutMs = TestClient.TimeoutMs)
        {
            var clock = Stopwatch.StartNew();
            while (clock.ElapsedMilliseconds < timeoutMs)
            {
                if (TryNextWithin((int)Math.Max(1, timeoutMs - clock.ElapsedMilliseconds)) is { } line && match(line))
                    return line;
            }
            throw new Xunit.Sdk.XunitException($"{Nick}: no awaited line in {timeoutMs} ms; read: {Seen()}");
        }

        public void Expect(string line, int timeoutMs = TestClient.TimeoutMs) => NextWhere(l => l == line, timeoutMs);

        // Every line up to and including `last`.
        public List<string> LinesUntil(string last, int timeoutMs)
        {
            int from = _seen.Count;
            Expect(last, timeoutMs);
            return _seen[from..];
        }

        // True once the server has closed the connection (whatever lines came first), within the client's timeout.
        public bool ReadsToEnd()
        {
            for (int i = 0; i < 1000; i++)
            {
                if (Client.ReadLine() is null)
                    return true;
            }
            return false;
        }

        // A line within `timeoutMs`, or null.
        public string? TryNextWithin(int timeoutMs)
        {
            Client.Socket.ReceiveTimeout = timeoutMs;
            try
            {
                return Next();
            }
            catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.TimedOut })
            {
                return null;
            }
            catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.TimedOut)
            {
                return null;
            }
            finally
            {
                Client.Socket.ReceiveTimeout = TestClient.TimeoutMs;
            }
        }

        // The next `count` lines starting with `prefix`, in the order they came.
        public List<string> Messages(string prefix, int count)
        {
            var lines = new List<string>();
            while (lines.Count < count)
                lines.Add(NextWhere(l => l.StartsWith(prefix, StringComparison.Ordinal)));
            return lines;
        }

        // The answer to a /nick just sent: taken, or taken by someone else.
        public string AnswerToNick(string nick) =>
            NextWhere(l => l == $"* you are now {nick}" || l.StartsWith("ERR nickname", StringComparison.Ordinal));

        // Joins `room` and returns once this daemon hears it: the first member a daemon has in a room makes it
        // subscribe, and its backplane answers /who only after that.
        public void MoveTo(string room)
        {
            Send($"/join {room}");
            NextWhere(l => l.StartsWith($"* you are now in #{room}", StringComparison.Ordinal));
            Who(room);
        }

        // The names /who lists for `room` (this user's own marked " (you)"), sorted.
        public List<string> Who(string room)
        {
            Send("/who");
            string line = NextWhere(l => l.StartsWith($"* in #{room} (", StringComparison.Ordinal));
            return [.. line[(line.IndexOf("): ", StringComparison.Ordinal) + 3)..].Split(", ").Order(StringComparer.Ordinal)];
        }

        public void Dispose() => Client.Dispose();

        private string Seen() => string.Join(" | ", _seen.TakeLast(20));
    }
}
