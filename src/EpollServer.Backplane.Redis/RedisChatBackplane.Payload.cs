// What a room's payload is on the wire, and what this server accepts of others': the origin's id (16 lowercase hex
// characters), a sequence number (8 bytes, big-endian; one counter per server, so rising on every channel), with
// --backplane-key an HMAC-SHA256 (32 bytes) over the room, the origin, the sequence number and the line, then the
// line. Anything that is not exactly that (and, with a key, signed, and newer than the last seen from its origin on
// that room) is dropped and counted as backplane-rejected, as is a line ChatText refuses.
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace EpollServer.Backplane.Redis;

public sealed partial class RedisChatBackplane
{
    private const int OriginLength = 16, SequenceLength = 8, MacLength = HMACSHA256.HashSizeInBytes;

    // Origins remembered per room for the replay check; past this (servers restarted over and over, each start a new
    // id) the room's memory starts afresh, which at worst admits one old line per forgotten origin, signed.
    private const int MaxOriginsPerRoom = 4096;

    private static readonly SearchValues<byte> LowerHex = SearchValues.Create("0123456789abcdef"u8);
    private static readonly SearchValues<char> LowerHexChars = SearchValues.Create("0123456789abcdef");

    // Payloads waiting for one room's handler beyond which they are dropped unread: 4,096 of the longest (8 KiB) is
    // 32 MiB, Redis's own default limit on what a subscriber may leave unread before it is disconnected.
    private const int MaxBacklog = 4096;

    private readonly byte[]? _key;
    private readonly ConcurrentDictionary<string, Dictionary<ulong, long>> _lastSequence = new(StringComparer.Ordinal);
    private long _sequence;   // the worker's: the last number this server published
    private long _rejected;

    private int HeaderLength => OriginLength + SequenceLength + (_key is null ? 0 : MacLength);

    // The worker: this server's payload for `line` in `room` (its folded name, as the channel is named).
    private byte[] Payload(string foldedRoom, ReadOnlySpan<byte> line)
    {
        byte[] payload = new byte[HeaderLength + line.Length];
        _origin.CopyTo(payload, 0);
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(OriginLength), ++_sequence);
        line.CopyTo(payload.AsSpan(HeaderLength));
        if (_key is not null)
            Sign(foldedRoom, payload.AsSpan(0, OriginLength + SequenceLength), line, payload.AsSpan(OriginLength + SequenceLength, MacLength));
        return payload;
    }

    // HMAC-SHA256 over (room length, room, origin and sequence, line), through one pooled buffer: no allocation
    // beside the rented array.
    private void Sign(string foldedRoom, ReadOnlySpan<byte> originAndSequence, ReadOnlySpan<byte> line, Span<byte> mac)
    {
        int roomBytes = Encoding.UTF8.GetByteCount(foldedRoom);
        byte[] scratch = ArrayPool<byte>.Shared.Rent(4 + roomBytes + originAndSequence.Length + line.Length);
        try
        {
            Span<byte> input = scratch;
            BinaryPrimitives.WriteInt32BigEndian(input, roomBytes);
            int at = 4 + Encoding.UTF8.GetBytes(foldedRoom, input[4..]);
            originAndSequence.CopyTo(input[at..]);
            at += originAndSequence.Length;
            line.CopyTo(input[at..]);
            HMACSHA256.TryHashData(_key, input[..(at + line.Length)], mac, out _);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    // StackExchange.Redis's thread, one room's payloads in order. Own lines are skipped (not counted); the rest are
    // checked, and the line handed to the directory, which checks it as it checks a local line.
    // Past MaxBacklog payloads waiting in StackExchange.Redis's queue for the room (it reads the socket as fast as
    // Redis sends, into a queue with no bound of its own), payloads are dropped unread, which empties that queue far
    // faster than Redis can fill it: the memory a publish flood takes here stays within about that many payloads.
    private void Received(ChannelMessageQueue queue, string room, string foldedRoom, ChannelMessage message)
    {
        byte[]? payload = (byte[]?)message.Message;
        if (payload is not null && payload.Length >= OriginLength && payload.AsSpan(0, OriginLength).SequenceEqual(_origin))
            return;   // this server's own line: its members had it at once
        if (queue.TryGetCount(out int backlog) && backlog > MaxBacklog)
        {
            _listener!.Overflowed(room);
            return;
        }
        if (payload is null || !Authentic(foldedRoom, payload, out ReadOnlySpan<byte> line) || !_listener!.Deliver(room, line))
        {
            Interlocked.Increment(ref _rejected);
            return;
        }
        Interlocked.Increment(ref _received);
    }

    // The header is well formed and, with a key, the MAC verifies and the sequence number is the origin's newest.
    private bool Authentic(string foldedRoom, byte[] payload, out ReadOnlySpan<byte> line)
    {
        line = default;
        if (payload.Length <= HeaderLength || !ulong.TryParse(payload.AsSpan(0, OriginLength), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong origin)
            || payload.AsSpan(0, OriginLength).ContainsAnyExcept(LowerHex))
            return false;
        line = payload.AsSpan(HeaderLength);
        if (_key is null)
            return true;   // anyone who can publish to Redis can say anything of the right shape (README)
        Span<byte> expected = stackalloc byte[MacLength];
        Sign(foldedRoom, payload.AsSpan(0, OriginLength + SequenceLength), line, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, payload.AsSpan(OriginLength + SequenceLength, MacLength)))
            return false;
        return IsNewest(foldedRoom, origin, BinaryPrimitives.ReadInt64BigEndian(payload.AsSpan(OriginLength)));
    }

    // A room's payloads arrive one at a time (its ChannelMessageQueue), so its dictionary needs no lock of its own.
    private bool IsNewest(string foldedRoom, ulong origin, long sequence)
    {
        Dictionary<ulong, long> last = _lastSequence.GetOrAdd(foldedRoom, _ => []);
        if (last.TryGetValue(origin, out long seen) && sequence <= seen)
            return false;   // a replay, or out of order (which one server's worker never publishes)
        if (last.Count >= MaxOriginsPerRoom && !last.ContainsKey(origin))
            last.Clear();
        last[origin] = sequence;
        return true;
    }
}
