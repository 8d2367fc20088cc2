// kestrel-http: what a .NET user would write to serve TechEmpower's plaintext and JSON tests, a minimal API on
// Kestrel, a benchmark peer for `--protocol http`. Usage: kestrel-http PORT (0: the kernel chooses); prints
// "listening on 127.0.0.1:PORT" once started; SIGTERM or SIGINT exits 0.
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

if (args.Length != 1 || !int.TryParse(args[0], out int port) || port is < 0 or > IPEndPoint.MaxPort)
{
    Console.Error.WriteLine("usage: kestrel-http PORT");
    return 2;
}

// The slim builder: Kestrel and routing, no configuration files; warnings and errors only, to stderr.
WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args });
builder.WebHost.ConfigureKestrel(options => options.Listen(IPAddress.Loopback, port));
builder.Logging.ClearProviders().SetMinimumLevel(LogLevel.Warning).AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromMilliseconds(500));

await using WebApplication app = builder.Build();
app.MapGet("/plaintext", () => Results.Text("Hello, World!", "text/plain"));
app.MapGet("/json", () => Results.Json(new Message("Hello, World!"), MessageJson.Default.Message));
await app.StartAsync();
string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
Console.WriteLine($"listening on 127.0.0.1:{new Uri(bound).Port}");
Console.Out.Flush();
await app.WaitForShutdownAsync();
return 0;

internal sealed record Message(string message);

[System.Text.Json.Serialization.JsonSerializable(typeof(Message))]
internal sealed partial class MessageJson : System.Text.Json.Serialization.JsonSerializerContext;
