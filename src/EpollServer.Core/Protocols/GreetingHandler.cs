// --greeting: text every client is sent on connect, before its protocol says anything (the kqueue lesson's "Hello").
// A wrapper around any handler, so that the stream and the server know nothing of greetings.
using System.Text;
using EpollServer.Buffers;
using EpollServer.Net;

namespace EpollServer.Protocols;

public sealed class GreetingHandler : IProtocolHandler
{
    private readonly byte[] _greeting;
    private readonly IProtocolHandler _inner;

    // A LF is added when the text does not end with one.
    public GreetingHandler(string text, IProtocolHandler inner)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        _greeting = Encoding.UTF8.GetBytes(text.EndsWith('\n') ? text : text + "\n");
        _inner = inner;
    }

    // The greeting as sent, LF included.
    public int Length => _greeting.Length;

    public IProtocolHandler Inner => _inner;

    public string Name => _inner.Name;

    public bool ClientSpeaksFirst => _inner.ClientSpeaksFirst;

    public bool KeepsOutputOpenAfterInputEnds => _inner.KeepsOutputOpenAfterInputEnds;

    public int FdsPerConnection => _inner.FdsPerConnection;

    public string? CheckListening(IReadOnlyList<System.Net.IPEndPoint> listening) => _inner.CheckListening(listening);

    public long MessagesHandled => _inner.MessagesHandled;

    public IEnumerable<KeyValuePair<string, long>> Counters => _inner.Counters;

    public IDatagramHandler? Datagrams => _inner.Datagrams;

    // A new connection's output is empty, and the catalogue keeps a greeting within a quarter of it: it always fits.
    public void OnOpen(Connection connection)
    {
        connection.Write(_greeting);
        _inner.OnOpen(connection);
    }

    public int OnData(Connection connection, ReadableBytes data) => _inner.OnData(connection, data);

    public void OnInputEnded(Connection connection, ReadableBytes remaining) => _inner.OnInputEnded(connection, remaining);

    public void OnWritable(Connection connection) => _inner.OnWritable(connection);

    public void OnRequestTimeout(Connection connection) => _inner.OnRequestTimeout(connection);

    public void OnClose(Connection connection) => _inner.OnClose(connection);
}
