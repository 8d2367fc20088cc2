// The ring: wrap-around as exactly two halves, rewinding when empty, all-or-nothing writes.
using EpollServer.Buffers;

namespace EpollServer.Tests;

public sealed class RingBufferTests
{
    [Fact]
    public void Write_AcrossTheEnd_IsReadBackAsTwoHalvesInOrder()
    {
        var ring = new RingBuffer();
        ring.Attach(new byte[16]);
        Assert.True(ring.TryWrite(Bytes(0, 12)));
        ring.Consume(10);                         // 2 left at offsets 10..11
        Assert.True(ring.TryWrite(Bytes(12, 10)));  // 4 at the end, 6 wrapped to the start
        ReadableBytes readable = ring.Readable;
        Assert.Equal(6, readable.First.Length);
        Assert.Equal(6, readable.Second.Length);
        Assert.Equal(Bytes(10, 12), readable.ToArray());
        Assert.Equal(4, ring.Free);
    }

    [Fact]
    public void WritableHalves_CoverExactlyTheFreeSpace()
    {
        var ring = new RingBuffer();
        ring.Attach(new byte[16]);
        ring.TryWrite(Bytes(0, 14));
        ring.Consume(6);                          // 8 used at 6..13, free: 14..15 and 0..5
        Assert.Equal(2, ring.WritableFirst.Length);
        Assert.Equal(6, ring.WritableSecond.Length);
        Bytes(100, 8).AsSpan(0, 2).CopyTo(ring.WritableFirst);
        Bytes(100, 8).AsSpan(2).CopyTo(ring.WritableSecond);
        ring.Commit(8);
        Assert.Equal(0, ring.Free);
        Assert.Equal(Bytes(6, 8).Concat(Bytes(100, 8)).ToArray(), ring.Readable.ToArray());
    }

    [Fact]
    public void Consume_ToEmpty_RewindsSoTheNextMessageIsContiguous()
    {
        var ring = new RingBuffer();
        ring.Attach(new byte[16]);
        ring.TryWrite(Bytes(0, 12));
        ring.Consume(12);
        Assert.True(ring.TryWrite(Bytes(0, 16)));
        Assert.True(ring.Readable.IsSingleSegment);
    }

    [Fact]
    public void TryWrite_TooLarge_WritesNothing()
    {
        var ring = new RingBuffer();
        ring.Attach(new byte[16]);
        ring.TryWrite(Bytes(0, 10));
        Assert.False(ring.TryWrite(Bytes(0, 7)));
        Assert.Equal(10, ring.Count);
    }

    [Fact]
    public void ReadableBytes_IndexOfAndSlice_SeeAcrossTheWrap()
    {
        byte[] first = "abc"u8.ToArray(), second = "de\nf"u8.ToArray();
        var data = new ReadableBytes(first, second);
        Assert.Equal(5, data.IndexOf((byte)'\n'));
        Assert.Equal("cde"u8.ToArray(), data.Slice(2, 3).ToArray());
        Assert.Equal("e\nf"u8.ToArray(), data.Slice(4).ToArray());
        Assert.Equal((byte)'d', data[3]);
    }

    [Fact]
    public void Detach_ReturnsStorage_AndLeavesAnIdleRingWithNone()
    {
        var ring = new RingBuffer();
        var storage = new byte[32];
        ring.Attach(storage);
        Assert.Same(storage, ring.Detach());
        Assert.False(ring.HasStorage);
        Assert.Equal(0, ring.Capacity);
    }

    private static byte[] Bytes(int start, int count) => Enumerable.Range(start, count).Select(i => (byte)i).ToArray();
}
