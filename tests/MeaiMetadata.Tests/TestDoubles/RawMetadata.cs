using OpenAI.Chat;
using OpenAI.Responses;

namespace MeaiMetadata.Tests.TestDoubles;

/// <summary>Reads metadata and store off either OpenAI raw options type.</summary>
public static class RawMetadata
{
    public static IDictionary<string, string> Of(object? raw) => raw switch
    {
        ChatCompletionOptions chat => chat.Metadata,
        CreateResponseOptions responses => responses.Metadata,
        _ => throw new InvalidOperationException($"Not OpenAI raw options: {raw?.GetType()}"),
    };

    public static bool? StoreOf(object? raw) => raw switch
    {
        ChatCompletionOptions chat => chat.StoredOutputEnabled,
        CreateResponseOptions responses => responses.StoredOutputEnabled,
        _ => throw new InvalidOperationException($"Not OpenAI raw options: {raw?.GetType()}"),
    };
}
