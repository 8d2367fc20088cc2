// Maps epoll tokens to their targets. A token is (generation << 32 | slot): when a target is removed its slot's
// generation moves on, so an event still queued for it in the same batch (its fd number possibly already reused by
// the next accept) no longer matches and is dropped instead of reaching the new owner.
namespace EpollServer.Reactor;

internal sealed class PollRegistry
{
    private IPollable?[] _targets = new IPollable?[64];
    private int[] _fds = new int[64];
    private uint[] _generations = new uint[64];
    private readonly Stack<int> _free = new();
    private int _used;

    public int Count { get; private set; }

    public ulong Add(IPollable target, int fd)
    {
        int slot = _free.Count > 0 ? _free.Pop() : _used++;
        if (slot == _targets.Length)
        {
            Array.Resize(ref _targets, slot * 2);
            Array.Resize(ref _fds, slot * 2);
            Array.Resize(ref _generations, slot * 2);
        }
        _targets[slot] = target;
        _fds[slot] = fd;
        Count++;
        return ((ulong)_generations[slot] << 32) | (uint)slot;
    }

    public IPollable? Find(ulong token)
    {
        uint slot = (uint)token;
        if (slot >= (uint)_used || _generations[slot] != (uint)(token >> 32))
            return null;
        return _targets[slot];
    }

    // The fd a live token was registered for.
    public int FdOf(ulong token) => _fds[(uint)token];

    public void Remove(ulong token)
    {
        uint slot = (uint)token;
        if (slot >= (uint)_used || _generations[slot] != (uint)(token >> 32))
            return;
        _targets[slot] = null;
        _generations[slot]++;
        _free.Push((int)slot);
        Count--;
    }
}
