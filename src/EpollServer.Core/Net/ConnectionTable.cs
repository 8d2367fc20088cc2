// The server's live connections: O(1) add and remove (swap with the last), iteration for stats and shutdown.
namespace EpollServer.Net;

internal sealed class ConnectionTable
{
    private readonly List<Connection> _items = [];

    public int Count => _items.Count;

    public void Add(Connection connection)
    {
        connection.TableIndex = _items.Count;
        _items.Add(connection);
    }

    public void Remove(Connection connection)
    {
        int index = connection.TableIndex;
        if ((uint)index >= (uint)_items.Count || !ReferenceEquals(_items[index], connection))
            return;
        Connection last = _items[^1];
        _items[index] = last;
        last.TableIndex = index;
        _items.RemoveAt(_items.Count - 1);
        connection.TableIndex = -1;
    }

    // A copy, because closing connections while iterating would reorder the table.
    public Connection[] Snapshot() => [.. _items];
}
