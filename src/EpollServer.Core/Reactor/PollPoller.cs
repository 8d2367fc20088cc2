// Portable backend: poll(2), as libuv's and Redis's fallbacks use it. The kernel keeps no interest list, so every
// wait hands it the whole pollfd array and the answer is scanned in full: O(registered fds) per wait, where epoll
// is O(ready). That is the cost the lessons' poll model pays, measured beside epoll.
using System.Runtime.InteropServices;
using EpollServer.Interop;

namespace EpollServer.Reactor;

internal sealed unsafe class PollPoller : IPoller
{
    private Libc.pollfd* _fds;                     // native: the kernel reads and writes it on every wait
    private ulong[] _tokens;                       // parallel to _fds
    private readonly Dictionary<int, int> _slotOf = [];   // fd -> index in _fds
    private int _count;
    private int _capacity;
    private int _scanStart;                        // where the next scan starts (see Wait)

    public PollPoller(int initialCapacity = 64)
    {
        _capacity = Math.Max(initialCapacity, 4);
        _fds = (Libc.pollfd*)NativeMemory.Alloc((nuint)(_capacity * sizeof(Libc.pollfd)));
        _tokens = new ulong[_capacity];
    }

    public int Fd => -1;

    public string Name => "poll";

    public SyscallResult Add(int fd, ulong token, Interest interest)
    {
        if (_slotOf.ContainsKey(fd))
            return SyscallResult.Failure(Errno.EEXIST);
        if (_count == _capacity)
            Grow();
        _fds[_count] = new Libc.pollfd { fd = fd, events = ToPoll(interest) };
        _tokens[_count] = token;
        _slotOf[fd] = _count++;
        return SyscallResult.Success(0);
    }

    public SyscallResult Modify(int fd, ulong token, Interest interest)
    {
        if (!_slotOf.TryGetValue(fd, out int slot))
            return SyscallResult.Failure(Errno.ENOENT);
        _fds[slot].events = ToPoll(interest);
        _tokens[slot] = token;
        return SyscallResult.Success(0);
    }

    // The last entry moves into the hole, so the array stays dense and removal is O(1).
    public SyscallResult Remove(int fd)
    {
        if (!_slotOf.Remove(fd, out int slot))
            return SyscallResult.Failure(Errno.ENOENT);
        int last = --_count;
        if (slot != last)
        {
            _fds[slot] = _fds[last];
            _tokens[slot] = _tokens[last];
            _slotOf[_fds[slot].fd] = slot;
        }
        return SyscallResult.Success(0);
    }

    public SyscallResult Wait(Span<PollEvent> events, int timeoutMs)
    {
        int ready = Libc.poll(_fds, (nuint)_count, timeoutMs);
        if (ready < 0)
        {
            Errno error = Errno.Last;
            return error == Errno.EINTR ? SyscallResult.Success(0) : SyscallResult.Failure(error);
        }
        int found = 0;
        int scanned = 0;
        for (; scanned < _count && found < ready && found < events.Length; scanned++)
        {
            int slot = (_scanStart + scanned) % _count;
            short revents = _fds[slot].revents;
            if (revents != 0)
                events[found++] = new PollEvent(_tokens[slot], FromPoll(revents));
        }
        // Level-triggered like epoll: what did not fit in this batch is reported again by the next poll, and the
        // next scan starts where this one stopped, so a full batch cannot starve the fds behind it.
        _scanStart = _count == 0 ? 0 : (_scanStart + scanned) % _count;
        return SyscallResult.Success(found);
    }

    private void Grow()
    {
        int capacity = _capacity * 2;
        _fds = (Libc.pollfd*)NativeMemory.Realloc(_fds, (nuint)(capacity * sizeof(Libc.pollfd)));
        Array.Resize(ref _tokens, capacity);
        _capacity = capacity;
    }

    private static short ToPoll(Interest interest)
    {
        short mask = 0;
        if ((interest & Interest.Read) != 0)
            mask |= Libc.POLLIN;
        if ((interest & Interest.Write) != 0)
            mask |= Libc.POLLOUT;
        return mask;
    }

    // POLLNVAL (an fd closed without Remove) is a bug in the caller; reporting it as an error closes its owner.
    private static PollEvents FromPoll(short mask)
    {
        PollEvents events = PollEvents.None;
        if ((mask & (Libc.POLLIN | Libc.POLLPRI)) != 0)
            events |= PollEvents.Readable;
        if ((mask & Libc.POLLOUT) != 0)
            events |= PollEvents.Writable;
        if ((mask & (Libc.POLLHUP | Libc.POLLERR | Libc.POLLNVAL)) != 0)
            events |= PollEvents.Failure;
        return events;
    }

    public void Dispose()
    {
        NativeMemory.Free(_fds);
        _fds = null;
    }
}
