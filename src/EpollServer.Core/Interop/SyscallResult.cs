// A syscall's outcome as a value: the non-negative result, or the errno it failed with.
using System.Runtime.InteropServices;

namespace EpollServer.Interop;

internal readonly struct SyscallResult
{
    public readonly nint Value;
    public readonly Errno Error;

    private SyscallResult(nint value, Errno error)
    {
        Value = value;
        Error = error;
    }

    public bool Ok => Error.Value == 0;

    public int Fd => (int)Value;

    public static SyscallResult Success(nint value) => new(value, Errno.None);

    public static SyscallResult Failure(Errno error) => new(-1, error);

    // Turns a raw return code into a result, reading errno only when the call failed.
    public static SyscallResult From(nint rc) => rc >= 0 ? new(rc, Errno.None) : new(-1, Errno.Last);

    // The one place EINTR is decided: every wrapper in Sys loops `while (SyscallResult.Interrupted(rc))`.
    // close(2) is the exception and never retried: on Linux the fd is already gone when close reports EINTR.
    public static bool Interrupted(nint rc) => rc < 0 && Marshal.GetLastPInvokeError() == Errno.EINTR.Value;

    public override string ToString() => Ok ? Value.ToString(System.Globalization.CultureInfo.InvariantCulture) : Error.ToString();
}
