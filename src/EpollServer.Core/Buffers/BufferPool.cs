// Fixed-size ring storage for one loop. Single-threaded by design (the loop owns it), so no lock and no interlocked.
namespace EpollServer.Buffers;

internal sealed class BufferPool
{
    private readonly Stack<byte[]> _free = new();
    private readonly int _maxRetained;

    public BufferPool(int bufferSize, int maxRetained)
    {
        BufferSize = bufferSize;
        _maxRetained = maxRetained;
    }

    public int BufferSize { get; }

    public int Retained => _free.Count;

    public long Allocated { get; private set; }

    public byte[] Rent()
    {
        if (_free.TryPop(out byte[]? buffer))
            return buffer;
        Allocated++;
        // Pinned: these arrays go straight to recv/send on every message, and the GC should never move them mid-call.
        return GC.AllocateUninitializedArray<byte>(BufferSize, pinned: true);
    }

    // Keeps at most maxRetained idle buffers: a burst of active connections must not pin its peak memory forever.
    public void Return(byte[] buffer)
    {
        if (buffer.Length == BufferSize && _free.Count < _maxRetained)
            _free.Push(buffer);
    }
}
