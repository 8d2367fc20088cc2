// errno values as named constants (Linux numbering), so no code ever compares against a bare number.
using System.Runtime.InteropServices;

namespace EpollServer.Interop;

internal readonly record struct Errno(int Value)
{
    public static readonly Errno None = new(0);
    public static readonly Errno EPERM = new(1);
    public static readonly Errno ENOENT = new(2);
    public static readonly Errno EINTR = new(4);
    public static readonly Errno EBADF = new(9);
    public static readonly Errno EAGAIN = new(11);   // == EWOULDBLOCK on Linux
    public static readonly Errno ENOMEM = new(12);
    public static readonly Errno EACCES = new(13);
    public static readonly Errno EEXIST = new(17);
    public static readonly Errno EINVAL = new(22);
    public static readonly Errno ENFILE = new(23);
    public static readonly Errno EMFILE = new(24);
    public static readonly Errno EPIPE = new(32);
    public static readonly Errno EPROTO = new(71);
    public static readonly Errno EAFNOSUPPORT = new(97);
    public static readonly Errno EADDRINUSE = new(98);
    public static readonly Errno EADDRNOTAVAIL = new(99);
    public static readonly Errno ECONNABORTED = new(103);
    public static readonly Errno ECONNRESET = new(104);
    public static readonly Errno ENOBUFS = new(105);
    public static readonly Errno ENOTCONN = new(107);
    public static readonly Errno ETIMEDOUT = new(110);
    public static readonly Errno ECONNREFUSED = new(111);
    public static readonly Errno EINPROGRESS = new(115);

    // The errno of the last P/Invoke on this thread, saved by the SetLastError stub before anything can change it.
    public static Errno Last => new(Marshal.GetLastPInvokeError());

    public bool IsWouldBlock => this == EAGAIN;

    // accept(2) lists these as "the connection went away or a transient failure": skip it and keep accepting.
    public bool IsTransientAcceptError => this == ECONNABORTED || this == EPROTO || this == EPERM || this == EINTR;

    // Only these are helped by the spare-fd trick; ENOBUFS/ENOMEM (kernel memory) just back the listener off.
    public bool IsFdExhaustion => this == EMFILE || this == ENFILE;

    public override string ToString() => Value == 0 ? "OK" : $"{Name} ({Value}): {Marshal.GetPInvokeErrorMessage(Value)}";

    private string Name => Value switch
    {
        1 => "EPERM", 2 => "ENOENT", 4 => "EINTR", 9 => "EBADF", 11 => "EAGAIN", 12 => "ENOMEM", 13 => "EACCES", 17 => "EEXIST",
        22 => "EINVAL", 23 => "ENFILE", 24 => "EMFILE", 32 => "EPIPE", 71 => "EPROTO", 97 => "EAFNOSUPPORT",
        98 => "EADDRINUSE", 99 => "EADDRNOTAVAIL", 103 => "ECONNABORTED", 104 => "ECONNRESET", 105 => "ENOBUFS",
        107 => "ENOTCONN", 110 => "ETIMEDOUT", 111 => "ECONNREFUSED", 115 => "EINPROGRESS",
        _ => "errno",
    };
}
