namespace MeaiMetadata.SpendTool;

/// <summary>The spend of one app on one model, summed over stored completions.</summary>
/// <param name="AppId">The <c>dify_app_id</c> of the completions, or <see langword="null"/> for completions without one.</param>
/// <param name="Model">The model the completions report (often a dated snapshot, priced as its family).</param>
/// <param name="Requests">The number of stored completions.</param>
/// <param name="InputTokens">Their input tokens, cached ones included.</param>
/// <param name="CachedInputTokens">Their input tokens read from the prompt cache.</param>
/// <param name="OutputTokens">Their output tokens, reasoning tokens included.</param>
/// <param name="Cost">Their cost in US dollars, exact (no rounding), or <see langword="null"/> when the model has no price.</param>
internal sealed record DifySpendRow(string? AppId, string Model, long Requests, long InputTokens, long CachedInputTokens, long OutputTokens, decimal? Cost);
