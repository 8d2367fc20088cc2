// What the kernel says about a process: resident memory and CPU time through the Process API (on Linux it reads
// /proc/PID/stat: the same figures as VmRSS and utime + stime, which ProcessProbeTests checks), open fds from
// /proc/PID/fd, and lsof's count of the same when lsof is installed (the two should agree).
using System.Diagnostics;

namespace EpollServer.LoadTests.Engine;

internal readonly record struct ProcessSample(long RssBytes, int Fds, double CpuSeconds, long TakenAt);

internal static class ProcessProbe
{
    // CPU time is the whole thread group's: every reactor and runtime thread, plus threads that have already ended.
    public static ProcessSample? Sample(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            int fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length;
            return new ProcessSample(process.WorkingSet64, fds, process.TotalProcessorTime.TotalSeconds, Stopwatch.GetTimestamp());
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            return null;   // the process has gone (or is not ours to read)
        }
    }

    // The server's process with its companions (LoadPlan.CompanionPids), summed; null when any of them has gone.
    public static ProcessSample? SampleServer(LoadPlan plan)
    {
        if (plan.ServerPid is not int pid || Sample(pid) is not { } total)
            return null;
        foreach (int companion in plan.CompanionPids)
        {
            if (Sample(companion) is not { } more)
                return null;
            total = total with { RssBytes = total.RssBytes + more.RssBytes, Fds = total.Fds + more.Fds, CpuSeconds = total.CpuSeconds + more.CpuSeconds };
        }
        return total;
    }

    // The share of one core the process used between two samples.
    public static double CpuShare(ProcessSample before, ProcessSample after)
    {
        double seconds = (after.TakenAt - before.TakenAt) / (double)Stopwatch.Frequency;
        return seconds <= 0 ? 0 : (after.CpuSeconds - before.CpuSeconds) / seconds;
    }

    // CPU seconds of this process's children that have exited and been reaped (getrusage RUSAGE_CHILDREN): an
    // external generator's (wrk's) CPU is the growth of this across its run, as it cannot be read once it is gone.
    public static ProcessSample ReapedChildren()
    {
        if (getrusage(RusageChildren, out Rusage usage) != 0)
            throw new InvalidOperationException($"getrusage failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        double seconds = usage.UserSeconds + usage.UserMicros / 1e6 + usage.SystemSeconds + usage.SystemMicros / 1e6;
        return new ProcessSample(0, 0, seconds, Stopwatch.GetTimestamp());
    }

    private const int RusageChildren = -1;

    // struct rusage on Linux x86-64 and arm64: two timevals, then 14 longs this code does not read.
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct Rusage
    {
        public long UserSeconds, UserMicros, SystemSeconds, SystemMicros;
        public long R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, R11, R12, R13;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out Rusage usage);

    // lsof's fd rows for the process (numbered descriptors only, not cwd/txt/mem), or null without lsof.
    public static int? LsofFdCount(int pid)
    {
        try
        {
            using var lsof = Process.Start(new ProcessStartInfo("lsof", ["-n", "-P", "-p", pid.ToString()])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            if (lsof is null)
                return null;
            int count = 0;
            string? line;
            while ((line = lsof.StandardOutput.ReadLine()) is not null)
            {
                string[] columns = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (columns.Length > 3 && columns[3].Length > 0 && char.IsDigit(columns[3][0]))
                    count++;
            }
            lsof.WaitForExit(10_000);
            return count;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    // The server closes its side after it reads EOF: give it a moment to get back to `baseline` fds.
    public static ProcessSample? WaitForFds(int pid, int baseline, TimeSpan timeout)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        ProcessSample? now = Sample(pid);
        while (now is { } n && n.Fds > baseline && Stopwatch.GetTimestamp() < deadline)
        {
            Thread.Sleep(50);
            now = Sample(pid);
        }
        return now;
    }
}
