// `--protocol http`: the benchmark protocol, by TechEmpower's plaintext and JSON rules. GET /plaintext answers
// "Hello, World!" as text/plain and GET /json {"message":"Hello, World!"} as application/json, each with Server,
// Date, Content-Type and Content-Length; anything else is 404. The bodies are constant bytes, so an answer costs
// no allocation (TechEmpower's JSON test would serialize per request; this measures the server, not a serializer).
using EpollServer.Net;

namespace EpollServer.Protocols.Http;

public sealed class BenchmarkHttpHandler : HttpHandler
{
    public override string Name => "http";

    protected override HttpAnswer Answer(Connection connection, in HttpRequestHead request) => request.Path switch
    {
        var p when p.SequenceEqual("/plaintext"u8) => new HttpAnswer(200, "text/plain"u8, "Hello, World!"u8),
        var p when p.SequenceEqual("/json"u8) => new HttpAnswer(200, "application/json"u8, "{\"message\":\"Hello, World!\"}"u8),
        _ => new HttpAnswer(404, "text/plain"u8, "not found\n"u8),
    };
}
