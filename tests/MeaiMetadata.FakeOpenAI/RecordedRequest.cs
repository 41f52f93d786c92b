namespace MeaiMetadata.FakeOpenAI;

/// <summary>One request the fake received, with what it answered.</summary>
public sealed class RecordedRequest
{
    /// <summary>Request path as received, including the path base (e.g. "/v1/chat/completions").</summary>
    public required string Path { get; init; }

    /// <summary>HTTP method as received.</summary>
    public required string Method { get; init; }

    /// <summary>API the path addresses.</summary>
    public required OpenAIApi Api { get; init; }

    /// <summary>True when the body carries "stream": true.</summary>
    public bool Stream { get; init; }

    /// <summary>The "model" string, or null when absent or not a string.</summary>
    public string? Model { get; init; }

    /// <summary>The string pairs of "metadata"; null when absent or JSON null, or when it is not an object.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>The "store" boolean; null when absent, JSON null or not a boolean.</summary>
    public bool? Store { get; init; }

    /// <summary>HTTP status code the fake answered.</summary>
    public int StatusCode { get; init; }

    /// <summary>The error message the fake answered with (400, 401, 404), or null on success.</summary>
    public string? Error { get; init; }

    /// <summary>The "param" of the error the fake answered with, or null.</summary>
    public string? ErrorParam { get; init; }

    /// <summary>Raw request body, decoded as UTF-8.</summary>
    public required string Body { get; init; }

    /// <summary>Text of the last user message (chat "messages", responses "input"), or null.</summary>
    public string? LastUserText { get; init; }

    /// <summary>The "api-key" header as received, or null.</summary>
    public string? ApiKeyHeader { get; init; }

    /// <summary>The "Authorization" header as received, or null.</summary>
    public string? AuthorizationHeader { get; init; }

    /// <summary>Every request header as received (name case-insensitive; repeated values joined with commas).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>The header <paramref name="name"/> as received, or null.</summary>
    public string? Header(string name) => Headers.TryGetValue(name, out string? value) ? value : null;

    /// <inheritdoc />
    public override string ToString() => $"{Method} {Path} -> {StatusCode}{(Error is null ? "" : ": " + Error)}";
}
