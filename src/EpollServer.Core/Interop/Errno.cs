// errno values by name, numbered for the platform this runs on (ErrnoTable), so no code compares against a bare number.
using System.Runtime.InteropServices;

namespace EpollServer.Interop;

internal readonly record struct Errno(int Value)
{
    public static readonly Errno None = new(0);
    public static readonly Errno EPERM = Named("EPERM");
    public static readonly Errno ENOENT = Named("ENOENT");
    public static readonly Errno EINTR = Named("EINTR");
    public static readonly Errno EBADF = Named("EBADF");
    public static readonly Errno EAGAIN = Named("EAGAIN");
    public static readonly Errno ENOMEM = Named("ENOMEM");
    public static readonly Errno EACCES = Named("EACCES");
    public static readonly Errno EEXIST = Named("EEXIST");
    public static readonly Errno EINVAL = Named("EINVAL");
    public static readonly Errno ENFILE = Named("ENFILE");
    public static readonly Errno EMFILE = Named("EMFILE");
    public static readonly Errno EPIPE = Named("EPIPE");
    public static readonly Errno EPROTO = Named("EPROTO");
    public static readonly Errno EAFNOSUPPORT = Named("EAFNOSUPPORT");
    public static readonly Errno EADDRINUSE = Named("EADDRINUSE");
    public static readonly Errno EADDRNOTAVAIL = Named("EADDRNOTAVAIL");
    public static readonly Errno ECONNABORTED = Named("ECONNABORTED");
    public static readonly Errno ECONNRESET = Named("ECONNRESET");
    public static readonly Errno ENOBUFS = Named("ENOBUFS");
    public static readonly Errno ENOTCONN = Named("ENOTCONN");
    public static readonly Errno ETIMEDOUT = Named("ETIMEDOUT");
    public static readonly Errno ECONNREFUSED = Named("ECONNREFUSED");
    public static readonly Errno EHOSTUNREACH = Named("EHOSTUNREACH");
    public static readonly Errno EINPROGRESS = Named("EINPROGRESS");

    private static Errno Named(string name) => new(ErrnoTable.ValueOf(name, ErrnoTable.Current));

    // The errno of the last P/Invoke on this thread, saved by the SetLastError stub before anything can change it.
    public static Errno Last => new(Marshal.GetLastPInvokeError());

    public bool IsWouldBlock => this == EAGAIN;

    // accept(2) lists these as "the connection went away or a transient failure": skip it and keep accepting.
    public bool IsTransientAcceptError => this == ECONNABORTED || this == EPROTO || this == EPERM || this == EINTR;

    // Only these are helped by the spare-fd trick; ENOBUFS/ENOMEM (kernel memory) just back the listener off.
    public bool IsFdExhaustion => this == EMFILE || this == ENFILE;

    public override string ToString() => Value == 0 ? "OK" : $"{Name} ({Value}): {Marshal.GetPInvokeErrorMessage(Value)}";

    private string Name => ErrnoTable.NameOf(Value, ErrnoTable.Current) ?? "errno";
}
