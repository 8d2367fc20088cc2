// The load engine reads a server's RSS and CPU time through the Process API: on Linux that must be what the kernel
// reports in /proc/PID/status (VmRSS) and /proc/PID/stat (utime + stime), parsed here by hand as the reference.
using EpollServer.LoadTests.Engine;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public class ProcessProbeTests
{
    [Fact]
    public void RssAndCpu_AreTheKernelsFigures_AndFdsAreProcsCount()
    {
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0");
        // The daemon is idle, but the runtime may still touch a page or spend a tick between two reads: read the
        // kernel's figures on both sides of the sample and require the sample to lie between them.
        (long Rss, double Cpu) before = Kernel(daemon.Pid);
        ProcessSample sample = ProcessProbe.Sample(daemon.Pid) ?? throw new InvalidOperationException("the daemon is gone");
        (long Rss, double Cpu) after = Kernel(daemon.Pid);
        Assert.InRange(sample.RssBytes, Math.Min(before.Rss, after.Rss), Math.Max(before.Rss, after.Rss));
        Assert.InRange(sample.CpuSeconds, before.Cpu, after.Cpu);
        Assert.Equal(Directory.GetFileSystemEntries($"/proc/{daemon.Pid}/fd").Length, sample.Fds);
        Assert.True(sample.RssBytes > 1 << 20, $"an RSS of {sample.RssBytes} bytes is not a running .NET process's");
    }

    [Fact]
    public void AProcessThatHasGone_GivesNoSample()
    {
        using var daemon = DaemonProcess.Start("--address 127.0.0.1 --port 0");
        int pid = daemon.Pid;
        daemon.Signal(15);   // SIGTERM
        Assert.Equal(0, daemon.WaitForExit());
        Assert.Null(ProcessProbe.Sample(pid));
    }

    private static (long Rss, double Cpu) Kernel(int pid)
    {
        string vmRss = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        long rss = long.Parse(vmRss[6..].Trim().Replace(" kB", "", StringComparison.Ordinal)) * 1024;
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        double cpu = (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0;   // USER_HZ is 100 on Linux
        return (rss, cpu);
    }
}
