// BSD backend: kqueue, level-triggered (no EV_CLEAR), as Redis's ae_kqueue.c and libuv use it. Where epoll has
// one registration per fd with an event mask, kqueue has one per (fd, filter): an fd wanted for reading has an
// EVFILT_READ knote, one wanted for writing an EVFILT_WRITE knote, added and deleted as the interest changes (as
// Redis does: an fd that is never written to never gets a write knote, which some fds and libkqueue refuse). The
// two halves of a wait's answer are merged back into one neutral event per fd.
//
// Interest changes (the write knote added and deleted around every partial send) go into a change list handed to
// the next kevent wait, saving a syscall each; that is safe because the fd stays open and registered until Remove,
// which, like Add, first applies what is pending and then acts at once, so that a later close (which drops knotes by
// itself) and a reuse of the fd number never meet a stale queued change.
using System.Runtime.InteropServices;
using EpollServer.Interop;

namespace EpollServer.Reactor;

internal sealed unsafe class KqueuePoller : IPoller
{
    private readonly int _kq;
    private readonly Libc.kevent_t* _results;     // native: the kernel (or libkqueue) writes here on every wait
    private readonly int _capacity;
    private Libc.kevent_t* _changes;
    private int _changeCount;
    private int _changeCapacity;
    private readonly Dictionary<int, (Interest Interest, ulong Token)> _registered = [];   // kqueue cannot say
    // Merging a wait's entries per fd without clearing a table each time: a slot counts only if stamped this wait.
    private int[] _slotOfFd = new int[256];
    private uint[] _stampOfFd = new uint[256];
    private uint _stamp;

    private KqueuePoller(int kq, int capacity)
    {
        _kq = kq;
        _capacity = capacity;
        _results = (Libc.kevent_t*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(Libc.kevent_t)));
        _changeCapacity = 64;
        _changes = (Libc.kevent_t*)NativeMemory.Alloc((nuint)(_changeCapacity * sizeof(Libc.kevent_t)));
    }

    // Null where kqueue can be used; else one line saying why not (on Linux: libkqueue is not installed).
    public static string? Unavailable => Libc.KqueueUnavailable;

    public int Fd => _kq;

    public string Name => "kqueue";

    // Fails with a clear reason when kqueue cannot be had (on Linux: libkqueue is not installed).
    public static SyscallResult Create(int capacity, out KqueuePoller? poller, out string? unavailable)
    {
        poller = null;
        unavailable = Unavailable;
        if (unavailable is not null)
            return SyscallResult.Failure(Errno.ENOENT);
        SyscallResult created = SyscallResult.From(Libc.kqueue());
        if (created.Ok)
        {
            // kqueue() has no CLOEXEC flag (kqueue1 is not portable); set it, or a child process would inherit it.
            Sys.SetCloseOnExec(created.Fd);
            poller = new KqueuePoller(created.Fd, capacity);
        }
        return created;
    }

    public SyscallResult Add(int fd, ulong token, Interest interest)
    {
        if (_registered.ContainsKey(fd))
            return SyscallResult.Failure(Errno.EEXIST);
        SyscallResult applied = ApplyNow(fd, token, added: interest, deleted: Interest.None);
        if (applied.Ok)
            _registered[fd] = (interest, token);
        return applied;
    }

    // Only what changes is sent: a knote newly wanted is added, one no longer wanted deleted. A kept knote whose
    // token changes is deleted and added again: EV_ADD on an existing knote updates its udata on the BSDs, but
    // libkqueue refuses it (it modifies a read or write knote only with EV_CLEAR), and the pair works everywhere.
    public SyscallResult Modify(int fd, ulong token, Interest interest)
    {
        if (!_registered.TryGetValue(fd, out var before))
            return SyscallResult.Failure(Errno.ENOENT);
        _registered[fd] = (interest, token);
        bool retoken = token != before.Token;
        QueueFilter(fd, Interest.Read, Libc.EVFILT_READ, before.Interest, interest, retoken, token);
        QueueFilter(fd, Interest.Write, Libc.EVFILT_WRITE, before.Interest, interest, retoken, token);
        return SyscallResult.Success(0);
    }

    public SyscallResult Remove(int fd)
    {
        if (!_registered.Remove(fd, out var before))
            return SyscallResult.Failure(Errno.ENOENT);
        return ApplyNow(fd, 0, added: Interest.None, deleted: before.Interest);
    }

    public SyscallResult Wait(Span<PollEvent> events, int timeoutMs)
    {
        int max = Math.Min(events.Length, _capacity);
        Libc.timespec timeout = new() { tv_sec = timeoutMs / 1000, tv_nsec = timeoutMs % 1000 * 1_000_000 };
        int n = Libc.kevent(_kq, _changes, _changeCount, _results, max, timeoutMs < 0 ? null : &timeout);
        // kevent(2): "When kevent() call fails with EINTR error, all changes in the changelist have been applied."
        Errno error = n < 0 ? Errno.Last : Errno.None;
        if (n >= 0 || error == Errno.EINTR)
            _changeCount = 0;
        if (n < 0)
            return error == Errno.EINTR ? SyscallResult.Success(0) : SyscallResult.Failure(error);
        return SyscallResult.Success(Merge(events, n));
    }

    // One neutral event per fd: its read and write entries OR-ed together, in the order the fds first appear.
    private int Merge(Span<PollEvent> events, int n)
    {
        if (++_stamp == 0)
        {
            Array.Clear(_stampOfFd);   // after 2^32 waits the stamps wrap; start clean once
            _stamp = 1;
        }
        int count = 0;
        for (int i = 0; i < n; i++)
        {
            ref Libc.kevent_t ev = ref _results[i];
            PollEvents ready = FromKevent(in ev);
            if (ready == PollEvents.None)
                continue;
            int fd = (int)ev.ident;
            EnsureFdTable(fd);
            if (_stampOfFd[fd] == _stamp)
            {
                int slot = _slotOfFd[fd];
                events[slot] = events[slot] with { Events = events[slot].Events | ready };
                continue;
            }
            _stampOfFd[fd] = _stamp;
            _slotOfFd[fd] = count;
            events[count++] = new PollEvent((ulong)ev.udata, ready);
        }
        return count;
    }

    private static PollEvents FromKevent(in Libc.kevent_t ev)
    {
        if ((ev.flags & Libc.EV_ERROR) != 0)
            return ev.data == 0 ? PollEvents.None : PollEvents.Failure;   // a queued change failed for this fd
        PollEvents events = ev.filter == Libc.EVFILT_READ ? PollEvents.Readable : PollEvents.Writable;
        if ((ev.flags & Libc.EV_EOF) != 0)
        {
            // EOF on the write filter: nothing more can be sent, the peer is gone (epoll says EPOLLHUP). EOF on the
            // read filter is only the peer's FIN: readable, and recv returns 0 once the rest is read.
            // fflags holds the pending socket error (a refused connect, a reset).
            if (ev.filter == Libc.EVFILT_WRITE || ev.fflags != 0)
                events |= PollEvents.Failure;
        }
        return events;
    }

    // One fd's knote changes in one kevent call that waits for nothing; EV_RECEIPT makes each change answer for
    // itself, so a bad fd is reported here and not by a later wait.
    private SyscallResult ApplyNow(int fd, ulong token, Interest added, Interest deleted)
    {
        SyscallResult flushed = FlushChanges();
        if (!flushed.Ok)
            return flushed;
        Libc.kevent_t* change = stackalloc Libc.kevent_t[2];
        Libc.kevent_t* receipt = stackalloc Libc.kevent_t[2];
        int count = 0;
        foreach ((Interest which, short filter) in Filters)
        {
            if ((added & which) != 0)
                change[count++] = Change(fd, filter, Libc.EV_ADD | Libc.EV_RECEIPT, token);
            else if ((deleted & which) != 0)
                change[count++] = Change(fd, filter, Libc.EV_DELETE | Libc.EV_RECEIPT, token);
        }
        if (count == 0)
            return SyscallResult.Success(0);
        int n = Libc.kevent(_kq, change, count, receipt, count, null);
        if (n < 0)
            return SyscallResult.Failure(Errno.Last);
        for (int i = 0; i < n; i++)
        {
            if ((receipt[i].flags & Libc.EV_ERROR) != 0 && receipt[i].data != 0)
                return SyscallResult.Failure(new Errno((int)receipt[i].data));
        }
        return SyscallResult.Success(0);
    }

    private static readonly (Interest Which, short Filter)[] Filters = [(Interest.Read, Libc.EVFILT_READ), (Interest.Write, Libc.EVFILT_WRITE)];

    // Applies the queued interest changes without waiting (before an Add or Remove changes the picture).
    private SyscallResult FlushChanges()
    {
        if (_changeCount == 0)
            return SyscallResult.Success(0);
        Libc.timespec zero = default;
        int n = Libc.kevent(_kq, _changes, _changeCount, null, 0, &zero);
        _changeCount = 0;
        return n < 0 ? SyscallResult.Failure(Errno.Last) : SyscallResult.Success(0);
    }

    private void QueueFilter(int fd, Interest which, short filter, Interest before, Interest now, bool retoken, ulong token)
    {
        bool had = (before & which) != 0;
        bool wants = (now & which) != 0;
        if (had && (!wants || retoken))
            QueueChange(fd, filter, Libc.EV_DELETE, token);
        if (wants && (!had || retoken))
            QueueChange(fd, filter, Libc.EV_ADD, token);
    }

    private void QueueChange(int fd, short filter, ushort flags, ulong token)
    {
        if (_changeCount == _changeCapacity)
        {
            _changeCapacity *= 2;
            _changes = (Libc.kevent_t*)NativeMemory.Realloc(_changes, (nuint)(_changeCapacity * sizeof(Libc.kevent_t)));
        }
        _changes[_changeCount++] = Change(fd, filter, flags, token);
    }

    private static Libc.kevent_t Change(int fd, short filter, ushort flags, ulong token) =>
        new() { ident = (nuint)fd, filter = filter, flags = flags, udata = (nuint)token };

    private void EnsureFdTable(int fd)
    {
        if (fd < _slotOfFd.Length)
            return;
        int size = Math.Max(fd + 1, _slotOfFd.Length * 2);
        Array.Resize(ref _slotOfFd, size);
        Array.Resize(ref _stampOfFd, size);
    }

    public void Dispose()
    {
        NativeMemory.Free(_results);
        NativeMemory.Free(_changes);
        Sys.Close(_kq);
    }
}
