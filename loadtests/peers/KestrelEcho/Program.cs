// kestrel-echo: an echo server on Kestrel's socket transport through a ConnectionHandler, a benchmark peer.
// Usage: kestrel-echo PORT. Prints "listening on 127.0.0.1:PORT" once started (port 0: the one the kernel chose);
// SIGTERM or SIGINT exits 0.
using System.Net;
using KestrelEcho;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

if (args.Length != 1 || !int.TryParse(args[0], out int port) || port is < 0 or > IPEndPoint.MaxPort)
{
    Console.Error.WriteLine("usage: kestrel-echo PORT");
    return 2;
}

// The empty builder reads no configuration files or environment variables (ASPNETCORE_URLS cannot add a
// listener) and registers only what is asked for here; the host's console lifetime still turns SIGTERM and
// SIGINT into a graceful stop, after which Main returns 0.
WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = args });
ListenOptions? endpoint = null;
builder.WebHost.UseKestrelCore().ConfigureKestrel(options =>
{
    options.Listen(IPAddress.Loopback, port, listen =>
    {
        listen.UseConnectionHandler<EchoHandler>();
        endpoint = listen;   // Kestrel writes the bound address back into it once it listens
    });
});
// Kestrel's socket transport sets TCP_NODELAY on every accepted socket by default (NoDelay = true), and .NET
// binds TCP listeners with SO_REUSEADDR on Linux. Only the backlog differs from the shared contract (512).
builder.Services.Configure<SocketTransportOptions>(sockets => sockets.Backlog = 511);
// Connections are asked to close on stop (see EchoHandler); this bounds the wait for any that do not, so the
// peer is gone well within the second a benchmark driver allows after SIGTERM. The default is 30 seconds.
builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromMilliseconds(500));
// Warnings and errors only, and to stderr: stdout carries the one "listening on" line and nothing else.
builder.Logging.SetMinimumLevel(LogLevel.Warning)
    .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);

await using WebApplication app = builder.Build();
await app.StartAsync();
Console.WriteLine($"listening on 127.0.0.1:{endpoint!.IPEndPoint!.Port}");
Console.Out.Flush();
await app.WaitForShutdownAsync();
return 0;
