// A power-of-two byte ring: free-running read and write counters masked into the array, so a wrapped region is
// always exactly two contiguous halves (one readv/sendmsg). Storage is attached from a pool only while it holds data.
// A struct, held in its connection's own fields (never copied): a class would cost an idle connection two object
// headers and two references more, 48 bytes of the few hundred it has.
using System.Numerics;

namespace EpollServer.Buffers;

internal struct RingBuffer
{
    private byte[]? _storage;
    private int _mask;
    private uint _read;    // total bytes consumed, wrapping at 2^32; only (_write - _read) and (x & _mask) matter
    private uint _write;   // total bytes committed

    public bool HasStorage => _storage is not null;

    public int Capacity => _storage?.Length ?? 0;

    public int Count => (int)(_write - _read);

    public int Free => Capacity - Count;

    public bool IsEmpty => _write == _read;

    public void Attach(byte[] storage)
    {
        if (!BitOperations.IsPow2(storage.Length))
            throw new ArgumentException("ring storage must be a power of two in length", nameof(storage));
        _storage = storage;
        _mask = storage.Length - 1;
        _read = _write = 0;
    }

    // Hands the storage back (to the pool) once the ring is empty; the ring then costs nothing while idle.
    public byte[]? Detach()
    {
        byte[]? storage = _storage;
        _storage = null;
        _read = _write = 0;
        return storage;
    }

    public ReadableBytes Readable
    {
        get
        {
            if (_storage is null || IsEmpty)
                return default;
            int start = (int)(_read & (uint)_mask);
            int count = Count;
            int first = Math.Min(count, _storage.Length - start);
            return new ReadableBytes(_storage.AsSpan(start, first), _storage.AsSpan(0, count - first));
        }
    }

    public Span<byte> WritableFirst
    {
        get
        {
            if (_storage is null)
                return default;
            int start = (int)(_write & (uint)_mask);
            return _storage.AsSpan(start, Math.Min(Free, _storage.Length - start));
        }
    }

    public Span<byte> WritableSecond
    {
        get
        {
            if (_storage is null)
                return default;
            int start = (int)(_write & (uint)_mask);
            int first = Math.Min(Free, _storage.Length - start);
            return _storage.AsSpan(0, Free - first);
        }
    }

    public void Commit(int count) => _write += (uint)count;

    public void Consume(int count)
    {
        _read += (uint)count;
        // Rewinding an empty ring keeps small messages contiguous: they never straddle the wrap, so one recv/send.
        if (_read == _write)
            _read = _write = 0;
    }

    // Copies all of data or nothing; false when it does not fit.
    public bool TryWrite(ReadOnlySpan<byte> data)
    {
        if (data.Length > Free)
            return false;
        Span<byte> first = WritableFirst;
        if (data.Length <= first.Length)
        {
            data.CopyTo(first);
        }
        else
        {
            data[..first.Length].CopyTo(first);
            data[first.Length..].CopyTo(WritableSecond);
        }
        Commit(data.Length);
        return true;
    }
}
