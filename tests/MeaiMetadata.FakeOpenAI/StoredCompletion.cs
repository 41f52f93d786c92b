namespace MeaiMetadata.FakeOpenAI;

/// <summary>A chat completion the fake keeps because its request carried <c>store: true</c>; listed by <c>GET /chat/completions</c>.</summary>
public sealed record StoredCompletion
{
    /// <summary>The completion id (<c>chatcmpl-…</c>).</summary>
    public required string Id { get; init; }

    /// <summary>Unix seconds.</summary>
    public required long Created { get; init; }

    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The request's metadata pairs (empty when none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>usage.prompt_tokens.</summary>
    public int PromptTokens { get; init; }

    /// <summary>usage.prompt_tokens_details.cached_tokens.</summary>
    public int CachedTokens { get; init; }

    /// <summary>usage.completion_tokens (reasoning included).</summary>
    public int CompletionTokens { get; init; }

    /// <summary>usage.completion_tokens_details.reasoning_tokens.</summary>
    public int ReasoningTokens { get; init; }

    /// <summary>The assistant text.</summary>
    public string Content { get; init; } = "ok";
}
