// How a program under test was built and how it runs, read from the program itself rather than assumed: a managed
// assembly's own metadata (DebuggableAttribute says whether the JIT optimiser is off; AssemblyConfiguration names
// the configuration), the live process's /proc (which runtime it mapped, its CPU mask, its DOTNET_* variables), and
// for native programs their version. The bench refuses a server or generator whose JIT optimiser is off: a Debug
// build measures the compiler's settings, not the I/O stack (issue #24: the sln once built two peers in Debug).
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace EpollServer.LoadTests.Bench;

// What one managed assembly's metadata says about its build.
internal sealed record AssemblyBuild(string Path, string? Configuration, bool JitOptimizerDisabled)
{
    // Release in the sense that matters: optimised, and not labelled Debug.
    public bool IsOptimized => !JitOptimizerDisabled && !string.Equals(Configuration, "Debug", StringComparison.OrdinalIgnoreCase);

    public string Describe() => $"{Configuration ?? "no configuration attribute"}, JIT optimiser {(JitOptimizerDisabled ? "disabled" : "enabled")}";

    // DebuggingModes.DisableOptimizations, as the C# compiler writes it into a Debug build's DebuggableAttribute.
    private const int DisableOptimizations = 0x100;

    public static AssemblyBuild Read(string path)
    {
        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        MetadataReader metadata = pe.GetMetadataReader();
        string? configuration = null;
        bool disabled = false;
        foreach (CustomAttributeHandle handle in metadata.GetAssemblyDefinition().GetCustomAttributes())
        {
            CustomAttribute attribute = metadata.GetCustomAttribute(handle);
            BlobReader blob = metadata.GetBlobReader(attribute.Value);
            if (blob.Length < 2 || blob.ReadUInt16() != 1)
                continue;   // not a well-formed attribute blob (prolog 0x0001)
            switch (AttributeName(metadata, attribute))
            {
                case "AssemblyConfigurationAttribute":
                    configuration = blob.ReadSerializedString();
                    break;
                case "DebuggableAttribute":
                    // Two constructors: (DebuggingModes) is an int32 (8-byte blob); (bool tracking, bool optimizerDisabled).
                    disabled = blob.Length == 8 ? (blob.ReadInt32() & DisableOptimizations) != 0 : blob.ReadBoolean() | blob.ReadBoolean();
                    break;
            }
        }
        return new AssemblyBuild(path, configuration, disabled);
    }

    private static string? AttributeName(MetadataReader metadata, CustomAttribute attribute)
    {
        EntityHandle type = attribute.Constructor.Kind switch
        {
            HandleKind.MemberReference => metadata.GetMemberReference((MemberReferenceHandle)attribute.Constructor).Parent,
            HandleKind.MethodDefinition => metadata.GetMethodDefinition((MethodDefinitionHandle)attribute.Constructor).GetDeclaringType(),
            _ => default,
        };
        return type.Kind switch
        {
            HandleKind.TypeReference => metadata.GetString(metadata.GetTypeReference((TypeReferenceHandle)type).Name),
            HandleKind.TypeDefinition => metadata.GetString(metadata.GetTypeDefinition((TypeDefinitionHandle)type).Name),
            _ => null,
        };
    }

    // The assembly and the project assemblies it references that lie beside it (epollserver.dll and
    // EpollServer.Core.dll, where the hot path is); package assemblies beside it are Release builds anyway.
    public static IReadOnlyList<AssemblyBuild> ReadWithLocalReferences(string path)
    {
        var builds = new List<AssemblyBuild> { Read(path) };
        using (var stream = File.OpenRead(path))
        using (var pe = new PEReader(stream))
        {
            MetadataReader metadata = pe.GetMetadataReader();
            foreach (AssemblyReferenceHandle handle in metadata.AssemblyReferences)
            {
                string name = metadata.GetString(metadata.GetAssemblyReference(handle).Name);
                string beside = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path)!, name + ".dll");
                if (name.StartsWith("EpollServer", StringComparison.Ordinal) && File.Exists(beside))
                    builds.Add(Read(beside));
            }
        }
        return builds;
    }
}

// The bench's refusal, distinct from a peer that merely failed to start: it stops the whole run.
internal sealed class UnoptimizedBuildException(string message) : InvalidOperationException(message);

// How a process under test (a server, or the generator) was built and runs, for the reports.
internal sealed record ProcessBuild(string Name, string Command, string Configuration, string Runtime, string Gc,
    IReadOnlyDictionary<string, string> DotnetSettings, string Pinning)
{
    public const string HowToBuild = "build it in Release: dotnet build EpollServer.sln -c Release, and run loadtests/EpollServer.LoadTests/bin/Release/net10.0/epollserver-load.dll";

    // Throws UnoptimizedBuildException, one line naming the peer and how to build it, when `command` runs a managed
    // assembly (dotnet X.dll) whose JIT optimiser is off, or a NativeAOT epollserver from a Debug output folder.
    public static void RefuseUnoptimized(string peer, IReadOnlyList<string> command)
    {
        if (ManagedAssembly(command) is { } dll)
        {
            foreach (AssemblyBuild build in AssemblyBuild.ReadWithLocalReferences(dll))
            {
                if (!build.IsOptimized)
                    throw new UnoptimizedBuildException($"{peer}: {build.Path} is not an optimised build ({build.Describe()}); {HowToBuild}");
            }
        }
        else if (command.Count > 0 && System.IO.Path.GetFileName(command[0]) == "epollserver" && command[0].Split('/').Contains("Debug"))
        {
            throw new UnoptimizedBuildException($"{peer}: {command[0]} comes from a Debug output folder; {HowToBuild}");
        }
    }

    // The generator's own refusal (bench and soak): a Debug epollserver-load would measure itself, not the servers.
    public static void RefuseUnoptimizedGenerator()
    {
        AssemblyBuild own = AssemblyBuild.Read(typeof(ProcessBuild).Assembly.Location);
        if (!own.IsOptimized)
            throw new UnoptimizedBuildException($"epollserver-load: {own.Path} is not an optimised build ({own.Describe()}); {HowToBuild}");
    }

    // The dll a `dotnet X.dll ...` command runs, or null for a native program.
    public static string? ManagedAssembly(IReadOnlyList<string> command) =>
        command.Count > 1 && System.IO.Path.GetFileNameWithoutExtension(command[0]) == "dotnet" && command[1].EndsWith(".dll", StringComparison.Ordinal)
            ? command[1] : null;

    // A server just started: `launched` is its whole command line (wrapper included), `command` the program's own.
    public static ProcessBuild OfServer(string name, int pid, IReadOnlyList<string> launched, IReadOnlyList<string> command)
    {
        string? dll = ManagedAssembly(command);
        IReadOnlyDictionary<string, string> settings = DotnetVariables(ReadEnvironment(pid));
        string configuration = dll is not null ? AssemblyBuild.Read(dll).Describe() : NativeConfiguration(command[0]);
        string runtime = RuntimeOf(pid, command);
        string gc = runtime.StartsWith("native", StringComparison.Ordinal) ? "not .NET" : GcOf(dll, settings);
        return new ProcessBuild(name, Quote(launched), configuration, runtime, gc, settings, PinningOf(pid));
    }

    // This process: the load generator.
    public static ProcessBuild OfGenerator()
    {
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "");
        string runtime = (RuntimeFeature.IsDynamicCodeSupported ? "JIT" : "NativeAOT") + $", {RuntimeInformation.FrameworkDescription}";
        string gc = $"{(GCSettings.IsServerGC ? "server" : "workstation")}, {(GCSettings.LatencyMode == GCLatencyMode.Batch ? "non-concurrent" : "concurrent")} (as running)";
        return new ProcessBuild("epollserver-load (generator)", Quote(ReadCommandLine(Environment.ProcessId)),
            AssemblyBuild.Read(typeof(ProcessBuild).Assembly.Location).Describe(), runtime, gc, DotnetVariables(environment), PinningOf(Environment.ProcessId));
    }

    // An external generator (wrk): its version line, and where its command is recorded.
    public static ProcessBuild OfExternalGenerator(string name, string version, string command, string pinning) =>
        new(name, command, "native (Debian package)", version, "not .NET", new Dictionary<string, string>(), pinning);

    // JIT or NativeAOT, and which runtime: the libcoreclr.so the process mapped names its version's folder.
    private static string RuntimeOf(int pid, IReadOnlyList<string> command)
    {
        string[] maps = ReadLines($"/proc/{pid}/maps");
        string? Framework(string framework) => maps.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "")
            .Select(p => p.Split('/')).Where(parts => Array.IndexOf(parts, framework) is int i && i >= 0 && i + 1 < parts.Length)
            .Select(parts => parts[Array.IndexOf(parts, framework) + 1]).FirstOrDefault();
        if (Framework("Microsoft.NETCore.App") is { } core)
        {
            string asp = Framework("Microsoft.AspNetCore.App") is { } a ? $", Microsoft.AspNetCore.App {a}" : "";
            return $"JIT (CoreCLR), Microsoft.NETCore.App {core}{asp}";
        }
        if (maps.Any(l => l.EndsWith("/libcoreclr.so", StringComparison.Ordinal)))
            return "JIT (CoreCLR, self-contained)";
        string exe = ReadLink($"/proc/{pid}/exe") ?? command[0];
        return IsNativeAotBinary(exe) ? $"NativeAOT ({exe})" : NativeVersion(exe);
    }

    // A NativeAOT binary carries the framework's metadata (its CoreLib's name among it), stripped or not; C does not.
    private static bool IsNativeAotBinary(string exe)
    {
        try
        {
            return File.Exists(exe) && new FileInfo(exe).Length < 512 << 20 && File.ReadAllBytes(exe).AsSpan().IndexOf("System.Private.CoreLib"u8) >= 0;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string NativeVersion(string exe)
    {
        if (System.IO.Path.GetFileName(exe) == "nginx")
            return "native, " + FirstLine(["nginx", "-v"]);
        return $"native C ({exe}), {FirstLine(["gcc", "--version"])}";
    }

    private static string NativeConfiguration(string program)
    {
        if (System.IO.Path.GetFileName(program) == "nginx")
            return "Debian package build";
        if (PeerFiles.FindUpwards(System.IO.Path.Combine("native-notes", "echo-reference", "build.sh")) is { } script
            && File.ReadLines(script).FirstOrDefault(l => l.StartsWith("CFLAGS=", StringComparison.Ordinal)) is { } flags)
            return $"gcc {flags["CFLAGS=".Length..].Trim('"')} (native-notes/echo-reference/build.sh)";
        return "native";
    }

    // Server or workstation, concurrent or not: the DOTNET_ (or COMPlus_) variable when set, else the assembly's
    // runtimeconfig.json, else the runtime's default (workstation, concurrent).
    private static string GcOf(string? dll, IReadOnlyDictionary<string, string> settings)
    {
        JsonElement? properties = null;
        string? config = dll is null ? null : System.IO.Path.ChangeExtension(dll, ".runtimeconfig.json");
        if (config is not null && File.Exists(config))
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllText(config));
            if (document.RootElement.TryGetProperty("runtimeOptions", out JsonElement options) && options.TryGetProperty("configProperties", out JsonElement p))
                properties = p.Clone();
        }
        string Knob(string variable, string property, bool fallback, string on, string off)
        {
            foreach (string prefix in new[] { "DOTNET_", "COMPlus_" })
            {
                if (settings.TryGetValue(prefix + variable, out string? text))
                    return $"{(text.Trim() is "1" or "true" ? on : off)} ({prefix}{variable})";
            }
            if (properties is { } p && p.TryGetProperty(property, out JsonElement e) && e.ValueKind is JsonValueKind.True or JsonValueKind.False)
                return $"{(e.GetBoolean() ? on : off)} (runtimeconfig.json)";
            // A NativeAOT binary has its settings compiled in, where this cannot read them.
            return dll is null ? $"{on} or {off} (compiled in, not read)" : $"{(fallback ? on : off)} (default)";
        }
        return $"{Knob("gcServer", "System.GC.Server", false, "server", "workstation")}, {Knob("gcConcurrent", "System.GC.Concurrent", true, "concurrent", "non-concurrent")}";
    }

    private static Dictionary<string, string> DotnetVariables(IReadOnlyDictionary<string, string> environment) =>
        environment.Where(e => e.Key.StartsWith("DOTNET_", StringComparison.Ordinal) || e.Key.StartsWith("COMPlus_", StringComparison.Ordinal))
            .OrderBy(e => e.Key, StringComparer.Ordinal).ToDictionary(e => e.Key, e => e.Value);

    // The CPUs the kernel lets the process run on (what taskset did, not what was asked for).
    private static string PinningOf(int pid)
    {
        string? allowed = ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal));
        return allowed is null ? "unknown" : $"CPU {allowed["Cpus_allowed_list:".Length..].Trim()}";
    }

    private static Dictionary<string, string> ReadEnvironment(int pid)
    {
        var variables = new Dictionary<string, string>();
        foreach (string entry in ReadNulSeparated($"/proc/{pid}/environ"))
        {
            int equals = entry.IndexOf('=');
            if (equals > 0)
                variables[entry[..equals]] = entry[(equals + 1)..];
        }
        return variables;
    }

    private static string[] ReadCommandLine(int pid) => ReadNulSeparated($"/proc/{pid}/cmdline");

    private static string[] ReadNulSeparated(string path)
    {
        try
        {
            return File.ReadAllText(path).Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static string[] ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static string? ReadLink(string path)
    {
        try
        {
            return File.ResolveLinkTarget(path, returnFinalTarget: false)?.FullName;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // The first line a program prints (stdout or stderr), or "unknown" when it cannot be run.
    public static string FirstLine(string[] command)
    {
        try
        {
            using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(command[0], command[1..])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            Task<string> error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit(10_000);
            string text = output.Length > 0 ? output : error.Result;
            return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }

    // A command as a shell would take it back.
    public static string Quote(IEnumerable<string> command) =>
        string.Join(' ', command.Select(a => a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./:=,@+".Contains(c)) ? a : $"'{a.Replace("'", "'\\''")}'"));
}
