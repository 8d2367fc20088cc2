// Runs one server as a daemon: raise the fd limit, start, log where it listens, stop on SIGTERM/SIGINT, report stats.
using System.Runtime.InteropServices;
using EpollServer.Diagnostics;
using EpollServer.Protocols;
using Microsoft.Extensions.Logging;

namespace EpollServer.Host;

internal static class Daemon
{
    // handlers: one handler per reactor (each keeps its own loop's scratch buffers).
    public static int Run(ServerOptions options, Func<IProtocolHandler> handlers, DaemonSettings daemon, ILogger logger)
    {
        FdLimit.Outcome limit = FdLimit.RaiseToHard();
        if (limit.Error is not null)
            logger.LogWarning("could not raise the fd limit: {Error}", limit.Error);
        else
            logger.LogInformation("fd limit: {Soft} (was {Before}, hard {Hard})", limit.Soft, limit.SoftBefore, limit.Hard);

        using var server = new Server(options, handlers, logger);
        try
        {
            server.Start();
        }
        catch (ServerStartException e)
        {
            logger.LogError("{Message}", e.Message);
            return 1;
        }
        using var signals = new StopSignals(server, logger);
        var stats = new StatsReporter(server, logger);
        using PosixSignalRegistration usr1 = PosixSignalRegistration.Create(StatsReporter.SIGUSR1, context =>
        {
            context.Cancel = true;
            _ = stats.ReportAsync();
        });
        using var periodic = daemon.StatsInterval > 0 ? stats.StartPeriodic(TimeSpan.FromSeconds(daemon.StatsInterval)) : null;
        using Admin? admin = daemon.AdminPort > 0 ? Admin.Start(server, stats, daemon, logger) : null;
        if (daemon.AdminPort > 0 && admin is null)
        {
            server.Dispose();
            return 1;
        }

        // Only now, with every handler in place: a script that signals as soon as it reads this line must not meet
        // SIGUSR1's default action (terminate).
        string where = string.Join(", ", server.LocalEndPoints);
        string stack = options.Address == "::" && server.LocalEndPoints[0].Address.Equals(System.Net.IPAddress.IPv6Any) ? " (dual-stack IPv4+IPv6)" : "";
        string udp = server.UdpEndPoint is { } u ? $" + UDP on {u}" : "";
        logger.LogInformation("listening on {Where}{Stack}{Udp} protocol={Protocol} poller={Poller} reactors={Reactors} accept={Accept} pid={Pid}",
            where, stack, udp, server.Handler.Name, server.PollerName, server.ReactorCount, options.Accept, Environment.ProcessId);

        server.Completion.Wait();   // the admin endpoint serves on (/readyz: 503) until the drain is over
        StatsFile.Delete(Environment.ProcessId);
        logger.LogInformation("stopped: {Stats}{Handler}", server.Stats, StatsReporter.HandlerCounters(server));
        return 0;
    }
}

// The admin endpoint: a one-reactor server of its own, answering about the main one, and the heartbeat that lets
// /healthz see a hung reactor (posted once a second from a timer thread, never from a loop).
internal sealed class Admin : IDisposable
{
    private readonly Server _endpoint;
    private readonly PeriodicTimer _heartbeat = new(TimeSpan.FromSeconds(1));

    private Admin(Server endpoint, Server watched)
    {
        _endpoint = endpoint;
        watched.PostHeartbeats();
        _ = Task.Run(async () =>
        {
            while (await _heartbeat.WaitForNextTickAsync().ConfigureAwait(false))
                watched.PostHeartbeats();
        });
    }

    public static Admin? Start(Server watched, StatsReporter stats, DaemonSettings daemon, ILogger logger)
    {
        var options = new ServerOptions
        {
            Address = daemon.AdminAddress, Port = daemon.AdminPort, Reactors = "1", IdleTimeout = TimeSpan.FromSeconds(60),
        };
        var endpoint = new Server(options, () => new AdminHttpHandler(watched, stats), logger);
        try
        {
            endpoint.Start();
        }
        catch (Exception e) when (e is ServerStartException or ArgumentException)
        {
            logger.LogError("admin endpoint: {Message}", e.Message);
            endpoint.Dispose();
            return null;
        }
        logger.LogInformation("admin endpoint on {Where}: GET /healthz /readyz /metrics /stats", string.Join(", ", endpoint.LocalEndPoints));
        return new Admin(endpoint, watched);
    }

    public void Dispose()
    {
        _heartbeat.Dispose();
        _endpoint.Dispose();
    }
}

// SIGTERM/SIGINT: the first asks for a graceful stop, a second one ends the process at once.
internal sealed class StopSignals : IDisposable
{
    private readonly Server _server;
    private readonly ILogger _logger;
    private readonly PosixSignalRegistration _term;
    private readonly PosixSignalRegistration _interrupt;
    private int _received;

    public StopSignals(Server server, ILogger logger)
    {
        _server = server;
        _logger = logger;
        // .NET 10 no longer turns SIGTERM into a graceful exit by itself: without this, `docker stop` kills at once.
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Increment(ref _received) == 1)
        {
            _server.Stop();   // before the log line: Stop gives back the fds reserved for exactly this moment
            _logger.LogInformation("{Signal} received: stopping gracefully (send it again to exit at once)", context.Signal);
            return;
        }
        // Written synchronously: the console logger's background queue would not be flushed before the exit below.
        Console.Error.WriteLine($"epollserver: {context.Signal} received again: exiting now");
        // 128 + signal number, as a shell reports a process killed by that signal.
        Environment.Exit(128 + (context.Signal == PosixSignal.SIGINT ? 2 : 15));
    }

    public void Dispose()
    {
        _term.Dispose();
        _interrupt.Dispose();
    }
}
