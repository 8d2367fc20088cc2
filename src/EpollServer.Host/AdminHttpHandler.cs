// The admin endpoint (--admin-port): HTTP on its own reactor, about the server it watches. GET /healthz is 200 while
// every reactor's loop keeps turning and 503 naming a reactor that has not run a heartbeat for 5 s (a hung loop);
// /readyz is 200 while serving and 503 from the moment a graceful stop begins, so a load balancer stops sending;
// /metrics is every instrument in Prometheus's text format; /stats is the JSON snapshot `epollserver stats` prints.
using System.Text;
using System.Text.Json;
using EpollServer.Diagnostics;
using EpollServer.Net;
using EpollServer.Protocols.Http;

namespace EpollServer.Host;

// stuckAfter: how long a heartbeat may wait before its reactor counts as stuck (5 s in the daemon).
internal sealed class AdminHttpHandler(Server watched, StatsReporter stats, TimeSpan? stuckAfter = null) : HttpHandler
{
    public static readonly TimeSpan DefaultStuckAfter = TimeSpan.FromSeconds(5);

    private readonly TimeSpan _stuckAfter = stuckAfter ?? DefaultStuckAfter;

    private static readonly byte[] PlainText = "text/plain; charset=utf-8"u8.ToArray();

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
        if (path.SequenceEqual("/metrics"u8))
            return new HttpAnswer(200, Encoding.ASCII.GetBytes(PrometheusExposition.ContentType), Text(PrometheusExposition.Render(watched)));
        return new HttpAnswer(404, PlainText, "not found: /healthz, /readyz, /metrics, /stats\n"u8);
    }

    // /stats asks every reactor for its fds, so it is answered when they have: back on this loop, in order.
    protected override bool Defers(Connection connection, in HttpRequestHead request)
    {
        if (!request.Path.SequenceEqual("/stats"u8))
            return false;
        _ = AnswerStatsAsync(connection);
        return true;
    }

    private async Task AnswerStatsAsync(Connection connection)
    {
        byte[] body;
        int status = 200;
        try
        {
            StatsSnapshot snapshot = await stats.SnapshotAsync().ConfigureAwait(false);
            body = JsonSerializer.SerializeToUtf8Bytes(snapshot, StatsJson.Default.StatsSnapshot);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            (status, body) = (503, Encoding.UTF8.GetBytes($"no snapshot: {e.Message}\n"));
        }
        connection.Context.Loop.Post(() =>
        {
            _body = body;
            AnswerLater(connection, new HttpAnswer(status, status == 200 ? "application/json"u8 : PlainText, _body));
        });
    }

    private ReadOnlySpan<byte> Text(string text) => _body = Encoding.UTF8.GetBytes(text);
}
