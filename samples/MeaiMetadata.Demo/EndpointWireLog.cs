using MeaiMetadata.FakeOpenAI;

namespace MeaiMetadata.Demo;

/// <summary>The embedded endpoint's own record of what it received.</summary>
public sealed class EndpointWireLog(FakeOpenAIServer server) : IWireLog
{
    public IReadOnlyList<WireRecord> Snapshot() =>
        server.Requests.Select(r => new WireRecord(
            r.Api == OpenAIApi.Responses ? "responses" : "chat.completions",
            r.Stream, r.Metadata, r.Store, r.StatusCode, r.Error)).ToList();
}
