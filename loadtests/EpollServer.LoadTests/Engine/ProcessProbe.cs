// What the kernel says about a process: resident memory and CPU time from /proc/PID/{status,stat}, open fds from
// /proc/PID/fd, and lsof's count of the same when lsof is installed (the two should agree).
using System.Diagnostics;

namespace EpollServer.LoadTests.Engine;

internal readonly record struct ProcessSample(long RssBytes, int Fds, double CpuSeconds, long TakenAt);

internal static class ProcessProbe
{
    // Linux reports utime/stime in USER_HZ, which is 100 on every architecture .NET runs on.
    private const double ClockTicksPerSecond = 100.0;

    public static ProcessSample? Sample(int pid)
    {
        try
        {
            long rss = 0;
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim()) * 1024;
                    break;
                }
            }
            int fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length;
            return new ProcessSample(rss, fds, CpuSeconds(pid), Stopwatch.GetTimestamp());
        }
        catch (IOException)
        {
            return null;   // the process has gone
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    // utime + stime: fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends the command name. They are
    // the whole thread group's: every reactor and runtime thread, as summing /proc/PID/task/*/stat would give, plus
    // threads that have already ended.
    private static double CpuSeconds(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11]) + long.Parse(fields[12])) / ClockTicksPerSecond;
    }

    // The share of one core the process used between two samples.
    public static double CpuShare(ProcessSample before, ProcessSample after)
    {
        double seconds = (after.TakenAt - before.TakenAt) / (double)Stopwatch.Frequency;
        return seconds <= 0 ? 0 : (after.CpuSeconds - before.CpuSeconds) / seconds;
    }

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
