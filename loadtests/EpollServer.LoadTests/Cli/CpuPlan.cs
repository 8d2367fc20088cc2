// Which CPUs the server and the generator run on. Pinned apart, neither steals the other's core and the figures
// repeat; the default splits the machine in two halves (on 2 cores: server on CPU 0, generator on CPU 1).
using EpollServer.Interop;

namespace EpollServer.LoadTests.Cli;

internal sealed record CpuPlan(string? ServerCpus, string? GeneratorCpus)
{
    public static CpuPlan Default()
    {
        int count = Environment.ProcessorCount;
        if (count < 2)
            return new CpuPlan(null, null);
        int half = count / 2;
        return new CpuPlan(Range(0, half), Range(half, count));
    }

    public static CpuPlan From(string? server, string? generator)
    {
        CpuPlan defaults = Default();
        return new CpuPlan(Pick(server, defaults.ServerCpus), Pick(generator, defaults.GeneratorCpus));
    }

    private static string? Pick(string? given, string? fallback) => given switch
    {
        null => fallback,
        "none" => null,
        _ => given,
    };

    private static string Range(int from, int to) => to - from == 1 ? from.ToString() : $"{from}-{to - 1}";

    public string Describe() =>
        ServerCpus is null && GeneratorCpus is null ? "not pinned"
            : $"server on CPU {ServerCpus ?? "any"}, generator on CPU {GeneratorCpus ?? "any"}";

    // Pins this thread, and so the generator loop threads it starts afterwards, to the generator's CPUs.
    public string? PinGenerator()
    {
        if (GeneratorCpus is null)
            return null;
        SyscallResult pinned = Sys.SetCpuAffinity(List(GeneratorCpus));
        return pinned.Ok ? null : $"could not pin the generator to CPU {GeneratorCpus}: {pinned.Error}";
    }

    // A taskset list ("0", "0-3", "0,2-3") as CPU numbers.
    public static int[] List(string cpus)
    {
        var list = new List<int>();
        foreach (string part in cpus.Split(','))
        {
            string[] bounds = part.Split('-');
            int first = int.Parse(bounds[0]);
            int last = bounds.Length > 1 ? int.Parse(bounds[1]) : first;
            for (int cpu = first; cpu <= last; cpu++)
                list.Add(cpu);
        }
        return [.. list];
    }
}
