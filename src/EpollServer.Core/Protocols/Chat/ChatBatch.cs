// Room lines one reactor produced in one batch, on their way to other servers: entries of (room name, line) in one
// buffer, handed over at the end of the batch in one call. Batches come from their reactor's pool and go back to it
// on Release (from the backplane's thread), so steady traffic allocates nothing on the loop.
using System.Buffers.Binary;
using System.Collections.Concurrent;

namespace EpollServer.Protocols.Chat;

public sealed class ChatBatch
{
    private readonly ConcurrentQueue<ChatBatch> _pool;
    private byte[] _buffer = new byte[16 * 1024];

    private ChatBatch(ConcurrentQueue<ChatBatch> pool) => _pool = pool;

    public int Length { get; private set; }

    public bool IsEmpty => Length == 0;

    internal static ChatBatch Rent(ConcurrentQueue<ChatBatch> pool) => pool.TryDequeue(out ChatBatch? batch) ? batch : new ChatBatch(pool);

    internal void Append(ReadOnlySpan<byte> room, ReadOnlySpan<byte> line)
    {
        int needed = Length + 8 + room.Length + line.Length;
        if (needed > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(needed, _buffer.Length * 2));
        Span<byte> entry = _buffer.AsSpan(Length);
        BinaryPrimitives.WriteInt32LittleEndian(entry, room.Length);
        room.CopyTo(entry[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(entry[(4 + room.Length)..], line.Length);
        line.CopyTo(entry[(8 + room.Length)..]);
        Length = needed;
    }

    // The entry at `offset` (from 0), and where the next one starts; false past the last.
    public bool TryRead(ref int offset, out ReadOnlySpan<byte> room, out ReadOnlySpan<byte> line)
    {
        if (offset >= Length)
        {
            room = line = default;
            return false;
        }
        ReadOnlySpan<byte> entry = _buffer.AsSpan(offset, Length - offset);
        int roomLength = BinaryPrimitives.ReadInt32LittleEndian(entry);
        room = entry.Slice(4, roomLength);
        int lineLength = BinaryPrimitives.ReadInt32LittleEndian(entry[(4 + roomLength)..]);
        line = entry.Slice(8 + roomLength, lineLength);
        offset += 8 + roomLength + lineLength;
        return true;
    }

    // Back to the reactor that filled it; the caller must not touch it afterwards.
    public void Release()
    {
        Length = 0;
        _pool.Enqueue(this);
    }
}
