namespace MeaiMetadata.FakeOpenAI;

/// <summary>Settings of a <see cref="FakeOpenAIServer"/>.</summary>
public sealed class FakeOpenAIServerOptions
{
    /// <summary>Path under which the endpoints live: "/v1" (OpenAI, the default) or "/openai/v1" (Azure OpenAI v1).</summary>
    public string PathBase { get; set; } = "/v1";

    /// <summary>The port on 127.0.0.1; 0 (the default) lets the OS choose a free one, as tests should.</summary>
    public int Port { get; set; }

    /// <summary>When set, requests must carry "Authorization: Bearer &lt;key&gt;" or "api-key: &lt;key&gt;", else 401.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Assistant text of every text answer.</summary>
    public string ReplyText { get; set; } = "ok";

    /// <summary>When true, a request with tools and no tool result yet is answered with a call to the first tool.</summary>
    public bool ToolCalls { get; set; } = true;

    /// <summary>Input (prompt) token count reported in usage.</summary>
    public int InputTokens { get; set; } = 5;

    /// <summary>Output (completion) token count reported in usage.</summary>
    public int OutputTokens { get; set; } = 3;

    /// <summary>Of the input tokens, how many usage reports as read from the prompt cache (written only when above 0).</summary>
    public int CachedInputTokens { get; set; }

    /// <summary>Of the output tokens, how many usage reports as reasoning (written only when above 0).</summary>
    public int ReasoningTokens { get; set; }

    /// <summary>When set, the usage of each answer, chosen from the request it answers (its body, API, metadata...);
    /// the stored completion keeps the same figures. When null, every answer reports <see cref="InputTokens"/>,
    /// <see cref="CachedInputTokens"/>, <see cref="OutputTokens"/> and <see cref="ReasoningTokens"/>.</summary>
    public Func<RecordedRequest, FakeUsage>? UsageOf { get; set; }

    /// <summary>When set, each valid model request waits for the task this returns for it before it is answered (the request
    /// is already in <see cref="FakeOpenAIServer.Requests"/>); the token is cancelled when the client goes away. Holds
    /// requests in flight, e.g. while a test kills the client's process or stops a store.</summary>
    public Func<RecordedRequest, CancellationToken, Task>? BeforeAnswer { get; set; }
}

/// <summary>The usage one answer reports.</summary>
/// <param name="InputTokens">Input (prompt) tokens, cached ones included.</param>
/// <param name="OutputTokens">Output (completion) tokens, reasoning included.</param>
/// <param name="CachedInputTokens">Of the input tokens, those read from the prompt cache.</param>
/// <param name="ReasoningTokens">Of the output tokens, those spent on reasoning.</param>
public sealed record FakeUsage(int InputTokens, int OutputTokens, int CachedInputTokens = 0, int ReasoningTokens = 0);
