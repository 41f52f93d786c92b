using System.Text.Json;

namespace MeaiMetadata.Demo;

/// <summary>For --live: records each request body as it leaves for the OpenAI API, and the status that came back.</summary>
public sealed class HttpWireLog : DelegatingHandler, IWireLog
{
    private readonly List<WireRecord> _records = [];
    private readonly Lock _lock = new();

    public HttpWireLog()
        : base(new SocketsHttpHandler())
    {
    }

    public IReadOnlyList<WireRecord> Snapshot()
    {
        lock (_lock)
        {
            return [.. _records];
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        string api = request.RequestUri?.AbsolutePath.EndsWith("/responses", StringComparison.Ordinal) == true ? "responses" : "chat.completions";
        (bool stream, IReadOnlyDictionary<string, string>? metadata, bool? store) = Read(body);
        try
        {
            HttpResponseMessage response = await base.SendAsync(request, cancellationToken);
            Add(new WireRecord(api, stream, metadata, store, (int)response.StatusCode, response.IsSuccessStatusCode ? null : response.ReasonPhrase));
            return response;
        }
        catch (HttpRequestException ex)
        {
            Add(new WireRecord(api, stream, metadata, store, 0, ex.Message)); // it left, nothing answered
            throw;
        }
    }

    private void Add(WireRecord record)
    {
        lock (_lock)
        {
            _records.Add(record);
        }
    }

    private static (bool Stream, IReadOnlyDictionary<string, string>? Metadata, bool? Store) Read(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            JsonElement root = json.RootElement;
            bool stream = root.TryGetProperty("stream", out JsonElement s) && s.ValueKind == JsonValueKind.True;
            bool? store = root.TryGetProperty("store", out JsonElement st) && st.ValueKind is JsonValueKind.True or JsonValueKind.False ? st.GetBoolean() : null;
            Dictionary<string, string>? metadata = null;
            if (root.TryGetProperty("metadata", out JsonElement m) && m.ValueKind == JsonValueKind.Object)
            {
                metadata = m.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ToString());
            }

            return (stream, metadata, store);
        }
        catch (JsonException)
        {
            return (false, null, null);
        }
    }
}
