// The bench reads how a program was built from the program itself and refuses an unoptimised one: a Debug assembly
// (made here with the DebuggableAttribute a Debug compile writes, in both of its constructor forms) is refused with
// one line naming the peer and how to build it, before any load; the runtime's own Release assemblies pass. Also
// the external generator's CPU: getrusage's total for reaped children grows by what a finished child burned.
using System.Diagnostics;
using System.Net;
using System.Reflection;
using System.Reflection.Emit;
using EpollServer.LoadTests.Bench;
using EpollServer.LoadTests.Engine;
using EpollServer.LoadTests.Reports;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public class BenchBuildTests
{
    // An assembly with the attributes `dotnet build -c Debug` gives one: DebuggableAttribute with
    // DisableOptimizations (or its two-bool form) and AssemblyConfiguration("Debug").
    private static string DebugAssembly(string folder, bool boolForm = false, string configuration = "Debug")
    {
        var builder = new PersistedAssemblyBuilder(new AssemblyName("debug-peer"), typeof(object).Assembly);
        CustomAttributeBuilder debuggable = boolForm
            ? new CustomAttributeBuilder(typeof(DebuggableAttribute).GetConstructor([typeof(bool), typeof(bool)])!, [true, true])
            : new CustomAttributeBuilder(typeof(DebuggableAttribute).GetConstructor([typeof(DebuggableAttribute.DebuggingModes)])!,
                [DebuggableAttribute.DebuggingModes.Default | DebuggableAttribute.DebuggingModes.DisableOptimizations
                 | DebuggableAttribute.DebuggingModes.IgnoreSymbolStoreSequencePoints | DebuggableAttribute.DebuggingModes.EnableEditAndContinue]);
        builder.SetCustomAttribute(debuggable);
        builder.SetCustomAttribute(new CustomAttributeBuilder(typeof(AssemblyConfigurationAttribute).GetConstructor([typeof(string)])!, [configuration]));
        builder.DefineDynamicModule("debug-peer").DefineType("Peer", TypeAttributes.Public).CreateType();
        string path = Path.Combine(folder, $"debug-peer-{(boolForm ? "bools" : "modes")}.dll");
        builder.Save(path);
        return path;
    }

    [Fact]
    public void ADebugAssembly_ReadsAsUnoptimised_InBothFormsOfItsDebuggableAttribute()
    {
        using var temp = TempFolder.Create("bench-build");
        foreach (bool boolForm in new[] { false, true })
        {
            AssemblyBuild build = AssemblyBuild.Read(DebugAssembly(temp.Path, boolForm));
            Assert.True(build.JitOptimizerDisabled);
            Assert.Equal("Debug", build.Configuration);
            Assert.False(build.IsOptimized);
            Assert.Equal("Debug, JIT optimiser disabled", build.Describe());
        }
    }

    [Fact]
    public void TheRuntimesOwnAssemblies_ReadAsOptimised()
    {
        foreach (Type type in new[] { typeof(object), typeof(System.Net.Sockets.Socket), typeof(System.Text.Json.JsonDocument) })
        {
            AssemblyBuild build = AssemblyBuild.Read(type.Assembly.Location);
            Assert.False(build.JitOptimizerDisabled, type.Assembly.Location);
            Assert.True(build.IsOptimized);
        }
    }

    // The load engine and the daemon beside these tests are built in the configuration the tests were (the compiler's
    // DEBUG symbol says which): what their metadata reads must be that.
    [Fact]
    public void TheLoadEngineAndTheDaemon_ReadAsTheConfigurationTheyWereBuiltIn()
    {
#if DEBUG
        const string Configuration = "Debug";
#else
        const string Configuration = "Release";
#endif
        foreach (string dll in new[] { "epollserver-load.dll", "epollserver.dll", "EpollServer.Core.dll", "sockets-echo.dll", "kestrel-echo.dll" })
        {
            AssemblyBuild build = AssemblyBuild.Read(Path.Combine(AppContext.BaseDirectory, dll));
            Assert.Equal(Configuration, build.Configuration);
            Assert.Equal(Configuration == "Debug", build.JitOptimizerDisabled);
        }
    }

    [Fact]
    public void ADebugPeer_IsRefusedInOneLine_NamingThePeerAndHowToBuildIt()
    {
        using var temp = TempFolder.Create("bench-build");
        string dll = DebugAssembly(temp.Path);
        var refused = Assert.Throws<UnoptimizedBuildException>(() => ProcessBuild.RefuseUnoptimized("sockets", ["dotnet", dll, "0"]));
        Assert.StartsWith($"sockets: {dll} is not an optimised build (Debug, JIT optimiser disabled); ", refused.Message);
        Assert.Contains("dotnet build EpollServer.sln -c Release", refused.Message);
        Assert.DoesNotContain('\n', refused.Message);
        // A Release assembly, and a native program, pass.
        ProcessBuild.RefuseUnoptimized("corelib", ["dotnet", typeof(object).Assembly.Location]);
        ProcessBuild.RefuseUnoptimized("c-epoll", ["/usr/bin/true", "0"]);
    }

    [Fact]
    public void TheBench_RefusesADebugPeer_BeforeAnyLoadRuns()
    {
        using var temp = TempFolder.Create("bench-build");
        string dll = DebugAssembly(temp.Path);
        var debugPeer = new Peer("debug-echo", "a Debug build", Peer.EchoOnly, (f, _) => [f.Dotnet, dll, "0"]);
        // A peer listed first that, if it were ever started, would leave a file behind (and exit at once).
        string marker = Path.Combine(temp.Path, "first-peer-started");
        var first = new Peer("first", "leaves a marker when started", Peer.EchoOnly, (_, _) => ["sh", "-c", $"touch '{marker}'; exit 1"]);
        var runner = new BenchRunner
        {
            Servers = [first, debugPeer],
            Rounds = 1,
            BasePlan = new LoadPlan { Target = new IPEndPoint(IPAddress.Loopback, 0), Duration = TimeSpan.FromSeconds(1) },
        };
        var report = new BenchReport { Title = "t", Command = "t", Date = DateTimeOffset.UnixEpoch, Machine = MachineInfo.Describe(), Pinning = "t" };
        var refused = Assert.Throws<UnoptimizedBuildException>(() => runner.Run(BenchSuite.Named("quick", null), report));
        Assert.StartsWith("debug-echo: ", refused.Message);
        Assert.Empty(report.Cases);
        Assert.False(File.Exists(marker), "the first peer was started before the Debug one was refused");
    }

    [Fact]
    public void AFinishedChildsCpu_ShowsInTheReapedChildrenTotal()
    {
        // What the bench reads for wrk: a child that burns CPU, waited for, adds its CPU to RUSAGE_CHILDREN.
        ProcessSample before = ProcessProbe.ReapedChildren();
        using var child = Process.Start(new ProcessStartInfo("sh", ["-c", "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done"]))!;
        Assert.True(child.WaitForExit(120_000), "the CPU-burning child did not finish");
        ProcessSample after = ProcessProbe.ReapedChildren();
        Assert.InRange(after.CpuSeconds - before.CpuSeconds, 0.02, 120);
    }
}
