// Whether a loop thread is asleep, asked of the kernel instead of inferred from time passing: /proc/self/task/TID/
// syscall names the call a blocked thread is in and its arguments ("running" while it runs). A loop is asleep when
// it is blocked in epoll_wait (or epoll_pwait) with a timeout other than 0; a busy-polling loop only ever waits
// with 0, so it is never seen asleep.
using System.Globalization;
using System.Runtime.InteropServices;
using EpollServer.Reactor;

namespace EpollServer.Tests.Infrastructure;

internal static partial class LoopThreadState
{
    private const int EpollWait = 232;    // x86_64 __NR_epoll_wait
    private const int EpollPwait = 281;   // x86_64 __NR_epoll_pwait (glibc may route epoll_wait to it)

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetTid();

    // The kernel's id of the loop's thread, read on that thread.
    public static int ThreadIdOf(EventLoop loop)
    {
        var tid = new TaskCompletionSource<int>();
        loop.Post(() => tid.SetResult(GetTid()));
        Assert.True(tid.Task.Wait(TestClient.TimeoutMs), "the loop did not answer");
        return tid.Task.Result;
    }

    // The timeout the thread is blocked in epoll_wait with, in ms (-1: none); null while it is not blocked there.
    public static int? WaitTimeoutMs(int tid)
    {
        Assert.Equal(Architecture.X64, RuntimeInformation.ProcessArchitecture);   // the syscall numbers above
        string[] fields = File.ReadAllText($"/proc/self/task/{tid}/syscall").Trim().Split(' ');
        if (!int.TryParse(fields[0], CultureInfo.InvariantCulture, out int number) || number is not (EpollWait or EpollPwait))
            return null;
        return (int)long.Parse(fields[4].AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    public static bool IsAsleep(int tid) => WaitTimeoutMs(tid) is int timeout && timeout != 0;

    // What the kernel says the thread is doing, for a failure message.
    public static string Describe(int tid) => $"thread {tid}: {File.ReadAllText($"/proc/self/task/{tid}/syscall").Trim()}";
}
