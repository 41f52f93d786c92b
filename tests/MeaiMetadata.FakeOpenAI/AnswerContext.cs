namespace MeaiMetadata.FakeOpenAI;

/// <summary>Everything an answer writer needs: the parsed request, the server options and fresh ids.</summary>
internal sealed class AnswerContext
{
    public required ParsedRequest Request { get; init; }

    public required FakeOpenAIServerOptions Options { get; init; }

    /// <summary>Sequence number of this answer on its server (1, 2, ...), used to make ids unique.</summary>
    public required long Sequence { get; init; }

    /// <summary>The usage this answer reports (<see cref="FakeOpenAIServerOptions.UsageOf"/>, else the fixed counts).</summary>
    public required FakeUsage Usage { get; init; }

    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public string Model => Request.Model ?? "gpt-4o-mini";

    /// <summary>Function name to call instead of answering with text, or null.</summary>
    public string? ToolToCall => Options.ToolCalls ? Request.ToolToCall : null;

    public int TotalTokens => Usage.InputTokens + Usage.OutputTokens;

    public const string CallId = "call_1";

    public const string CallArguments = "{}";
}
