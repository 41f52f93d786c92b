namespace MeaiMetadata.Spend;

/// <summary>The built-in prices of OpenAI's chat models, in US dollars per million tokens (input, cached input, output).</summary>
/// <remarks>
/// Facts taken from LiteLLM's price map, <c>model_prices_and_context_window.json</c> at the root of
/// https://github.com/BerriAI/litellm, commit 00035b69f416be24e2e323c13198d9b7d2d1bdf9, retrieved on 2026-12-01: the entries of
/// <c>"litellm_provider": "openai"</c> with <c>"mode": "chat"</c> (standard tier: <c>input_cost_per_token</c>,
/// <c>cache_read_input_token_cost</c>, <c>output_cost_per_token</c>, times one million). A dated snapshot is listed only
/// where its price differs from its family's; the others resolve to the family (<see cref="DifyPriceTable"/>).
/// </remarks>
internal static class BuiltInPrices
{
    public const string Source = "LiteLLM model_prices_and_context_window.json (github.com/BerriAI/litellm), commit 00035b69f416be24e2e323c13198d9b7d2d1bdf9, retrieved 2026-12-01";

    public static readonly (string Model, decimal Input, decimal? CachedInput, decimal Output)[] Entries =
    [
        ("gpt-5.6", 5m, 0.5m, 30m),
        ("gpt-5.6-sol", 5m, 0.5m, 30m),
        ("gpt-5.6-terra", 2.5m, 0.25m, 15m),
        ("gpt-5.6-luna", 1m, 0.1m, 6m),
        ("gpt-5.5", 5m, 0.5m, 30m),
        ("gpt-5.4", 2.5m, 0.25m, 15m),
        ("gpt-5.4-mini", 0.75m, 0.075m, 4.5m),
        ("gpt-5.4-nano", 0.2m, 0.02m, 1.25m),
        ("gpt-5.3-chat-latest", 1.75m, 0.175m, 14m),
        ("gpt-5.2", 1.75m, 0.175m, 14m),
        ("gpt-5.2-chat-latest", 1.75m, 0.175m, 14m),
        ("gpt-5.1", 1.25m, 0.125m, 10m),
        ("gpt-5.1-chat-latest", 1.25m, 0.125m, 10m),
        ("gpt-5", 1.25m, 0.125m, 10m),
        ("gpt-5-chat", 1.25m, 0.125m, 10m),
        ("gpt-5-chat-latest", 1.25m, 0.125m, 10m),
        ("gpt-5-mini", 0.25m, 0.025m, 2m),
        ("gpt-5-nano", 0.05m, 0.005m, 0.4m),
        ("gpt-4.1", 2m, 0.5m, 8m),
        ("gpt-4.1-mini", 0.4m, 0.1m, 1.6m),
        ("gpt-4.1-nano", 0.1m, 0.025m, 0.4m),
        ("gpt-4o", 2.5m, 1.25m, 10m),
        ("gpt-4o-2024-05-13", 5m, null, 15m),
        ("gpt-4o-mini", 0.15m, 0.075m, 0.6m),
        ("gpt-4-turbo", 10m, null, 30m),
        ("gpt-4-turbo-preview", 10m, null, 30m),
        ("gpt-4-0125-preview", 10m, null, 30m),
        ("gpt-4-1106-preview", 10m, null, 30m),
        ("gpt-4", 30m, null, 60m),
        ("gpt-3.5-turbo", 0.5m, null, 1.5m),
        ("gpt-3.5-turbo-1106", 1m, null, 2m),
        ("gpt-3.5-turbo-16k", 3m, null, 4m),
        ("o4-mini", 1.1m, 0.275m, 4.4m),
        ("o3", 2m, 0.5m, 8m),
        ("o3-mini", 1.1m, 0.55m, 4.4m),
        ("o1", 15m, 7.5m, 60m),
    ];
}
