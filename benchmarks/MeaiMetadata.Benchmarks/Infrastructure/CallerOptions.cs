using Microsoft.Extensions.AI;
using OpenAI.Chat;

namespace MeaiMetadata.Benchmarks.Infrastructure;

/// <summary>What the caller passes as <see cref="ChatOptions"/>.</summary>
public enum CallerOptions
{
    /// <summary><c>options: null</c>.</summary>
    Null,

    /// <summary>Temperature, one <see cref="ChatOptions.AdditionalProperties"/> entry and a raw-options factory returning
    /// <c>new ChatCompletionOptions()</c>; the same instance on every call (the middleware must not change it).</summary>
    Caller,
}

public static class CallerOptionsFactory
{
    public static ChatOptions? Create(CallerOptions kind) => kind switch
    {
        CallerOptions.Null => null,
        CallerOptions.Caller => new ChatOptions
        {
            Temperature = 0.2f,
            AdditionalProperties = new() { ["user_tier"] = "gold" },
            RawRepresentationFactory = static _ => new ChatCompletionOptions(),
        },
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
