// The admin endpoint (--admin-port): HTTP on its own reactor, about the server it watches. GET /healthz is 200 while
// every reactor's loop keeps turning and 503 naming a reactor that has not run a heartbeat for 5 s (a hung loop);
// /readyz is 200 while serving and 503 from the moment a graceful stop begins, so a load balancer stops sending;
// /metrics is every instrument in Prometheus's text format; /stats is the JSON snapshot `epollserver stats` prints.
using System.Text;
using System.Text.Json;
using EpollServer.Diagnostics;
using EpollServer.Net;
using EpollServer.Protocols.Http;
using Microsoft.Extensions.Logging;

namespace EpollServer.Host;

// stuckAfter: how long a heartbeat may wait before its reactor counts as stuck (5 s in the daemon).
internal sealed class AdminHttpHandler(Server watched, StatsReporter stats, TimeSpan? stuckAfter = null) : HttpHandler
{
    public static readonly TimeSpan DefaultStuckAfter = TimeSpan.FromSeconds(5);

    private readonly TimeSpan _stuckAfter = stuckAfter ?? DefaultStuckAfter;

    private static readonly byte[] PlainText = "text/plain; charset=utf-8"u8.ToArray();
    private static readonly byte[] Json = "application/json"u8.ToArray();
    private static readonly byte[] Prometheus = Encoding.ASCII.GetBytes(PrometheusExposition.ContentType);

    private byte[] _body = [];   // the last dynamic answer's bytes: they must outlive Answer until written

    public override string Name => "admin";

    protected override HttpAnswer Answer(Connection connection, in HttpRequestHead request)
    {
        ReadOnlySpan<byte> path = request.Path;
        if (path.SequenceEqual("/healthz"u8))
        {
            int stuck = watched.StuckReactor(_stuckAfter);
            return stuck < 0 ? new HttpAnswer(200, PlainText, "ok\n"u8)
                : new HttpAnswer(503, PlainText, Text($"reactor {stuck} has not turned its loop for more than {_stuckAfter.TotalSeconds:0.###} s\n"));
        }
        if (path.SequenceEqual("/readyz"u8))
            return watched.IsServing ? new HttpAnswer(200, PlainText, "ready\n"u8) : new HttpAnswer(503, PlainText, "stopping\n"u8);
        return new HttpAnswer(404, PlainText, "not found: /healthz, /readyz, /metrics, /stats\n"u8);
    }

    // /stats asks every reactor for its fds, and /metrics reads /proc and takes the metrics listeners' lock: both
    // are made off this loop and answered back on it, in order.
    protected override bool Defers(Connection connection, in HttpRequestHead request)
    {
        if (request.Path.SequenceEqual("/stats"u8))
            _ = AnswerOffTheLoopAsync(connection, Json, async () => JsonSerializer.SerializeToUtf8Bytes(
                await MakeStats().ConfigureAwait(false), StatsJson.Default.StatsSnapshot));
        else if (request.Path.SequenceEqual("/metrics"u8))
            _ = AnswerOffTheLoopAsync(connection, Prometheus, () => Task.Run(() => Encoding.UTF8.GetBytes(RenderMetrics(watched))));
        else
            return false;
        return true;
    }

    // What /metrics and /stats are made of; a test replaces them to make an answer fail.
    internal Func<Server, string> RenderMetrics { get; init; } = PrometheusExposition.Render;

    internal Func<Task<StatsSnapshot>> MakeStats { get; init; } = stats.SnapshotAsync;

    // Whatever goes wrong, the request gets an answer (and the connection its reading back): 503 while the server
    // stops (its reactors no longer answer), 500 and a log line for anything else.
    private async Task AnswerOffTheLoopAsync(Connection connection, byte[] contentType, Func<Task<byte[]>> make)
    {
        (int status, byte[] type, byte[] body) answer;
        try
        {
            answer = (200, contentType, await make().ConfigureAwait(false));
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            answer = (503, PlainText, Encoding.UTF8.GetBytes($"not available: {e.Message}\n"));   // the server is stopping
        }
        catch (Exception e)
        {
            stats.Logger.LogError(e, "admin endpoint: {Connection}: building the answer failed", connection);
            answer = (500, PlainText, "internal error: the answer could not be made (see the server's log)\n"u8.ToArray());
        }
        connection.Context.Loop.Post(() =>
        {
            _body = answer.body;
            AnswerLater(connection, new HttpAnswer(answer.status, answer.type, _body));
        });
    }

    private ReadOnlySpan<byte> Text(string text) => _body = Encoding.UTF8.GetBytes(text);
}
