// BSD backend: kqueue, level-triggered (no EV_CLEAR), as libuv's and Redis's ae_kqueue.c use it. Where epoll has
// one registration per fd with an event mask, kqueue has one per (fd, filter): each fd gets an EVFILT_READ and an
// EVFILT_WRITE knote, enabled or disabled by its interest, and the two halves of a wait's answer are merged back
// into one neutral event per fd.
//
// Interest changes (EPOLLOUT armed and dropped around every partial send) go into a change list handed to the next
// kevent wait, saving a syscall each; that is safe because the fd stays open and registered until Remove, which,
// like Add, first applies what is pending and then acts at once, so that a later close (which drops knotes by
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
    private readonly Dictionary<int, Interest> _registered = [];   // what the loop asked for; kqueue cannot say
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
            Sys.Fcntl(created.Fd, Libc.F_SETFD, Libc.FD_CLOEXEC);
            poller = new KqueuePoller(created.Fd, capacity);
        }
        return created;
    }

    public SyscallResult Add(int fd, ulong token, Interest interest)
    {
        if (_registered.ContainsKey(fd))
            return SyscallResult.Failure(Errno.EEXIST);
        SyscallResult applied = ApplyNow(fd, token, interest, Libc.EV_ADD);
        if (applied.Ok)
            _registered[fd] = interest;
        return applied;
    }

    public SyscallResult Modify(int fd, ulong token, Interest interest)
    {
        if (!_registered.ContainsKey(fd))
            return SyscallResult.Failure(Errno.ENOENT);
        _registered[fd] = interest;
        // EV_ADD on an existing knote updates it, udata (the token) included.
        QueueChange(fd, Libc.EVFILT_READ, (ushort)(Libc.EV_ADD | EnableFlag(interest, Interest.Read)), token);
        QueueChange(fd, Libc.EVFILT_WRITE, (ushort)(Libc.EV_ADD | EnableFlag(interest, Interest.Write)), token);
        return SyscallResult.Success(0);
    }

    public SyscallResult Remove(int fd)
    {
        if (!_registered.Remove(fd))
            return SyscallResult.Failure(Errno.ENOENT);
        return ApplyNow(fd, 0, Interest.None, Libc.EV_DELETE);
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
            return ev.data == 0 ? PollEvents.None : PollEvents.Error;   // a queued change failed for this fd
        PollEvents events = ev.filter == Libc.EVFILT_READ ? PollEvents.Readable : PollEvents.Writable;
        if ((ev.flags & Libc.EV_EOF) != 0)
        {
            // EOF on the write filter: nothing more can be sent, the peer is gone (epoll says EPOLLHUP). EOF on the
            // read filter is only the peer's FIN: readable, and recv returns 0 once the rest is read.
            if (ev.filter == Libc.EVFILT_WRITE)
                events |= PollEvents.HangUp;
            if (ev.fflags != 0)
                events |= PollEvents.Error;   // fflags holds the pending socket error (a refused connect, a reset)
        }
        return events;
    }

    // Both filters of one fd in one kevent call that waits for nothing; EV_RECEIPT makes each change answer for
    // itself, so a bad fd is reported here and not by a later wait.
    private SyscallResult ApplyNow(int fd, ulong token, Interest interest, ushort action)
    {
        SyscallResult flushed = FlushChanges();
        if (!flushed.Ok)
            return flushed;
        Libc.kevent_t* change = stackalloc Libc.kevent_t[2];
        Libc.kevent_t* receipt = stackalloc Libc.kevent_t[2];
        ushort readFlags = action == Libc.EV_DELETE ? action : (ushort)(action | EnableFlag(interest, Interest.Read));
        ushort writeFlags = action == Libc.EV_DELETE ? action : (ushort)(action | EnableFlag(interest, Interest.Write));
        change[0] = Change(fd, Libc.EVFILT_READ, (ushort)(readFlags | Libc.EV_RECEIPT), token);
        change[1] = Change(fd, Libc.EVFILT_WRITE, (ushort)(writeFlags | Libc.EV_RECEIPT), token);
        int n = Libc.kevent(_kq, change, 2, receipt, 2, null);
        if (n < 0)
            return SyscallResult.Failure(Errno.Last);
        for (int i = 0; i < n; i++)
        {
            if ((receipt[i].flags & Libc.EV_ERROR) != 0 && receipt[i].data != 0)
                return SyscallResult.Failure(new Errno((int)receipt[i].data));
        }
        return SyscallResult.Success(0);
    }

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

    private static ushort EnableFlag(Interest interest, Interest which) =>
        (interest & which) != 0 ? Libc.EV_ENABLE : Libc.EV_DISABLE;

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
