using System.Text.Json;
using MeaiMetadata.FakeOpenAI;

namespace MeaiMetadata.Demo;

/// <summary>The embedded endpoint's settings: a usage per request that makes the spend figures worth comparing.</summary>
public static class DemoEndpoint
{
    /// <summary>The usage the endpoint reports: a 1,200-token prompt on Chat Completions and 1,500 on the Responses API,
    /// 40 output tokens; the second request of a tool round trip repeats the first one's prompt, so it reads most of it
    /// from the prompt cache (whole blocks of 128: 1,152 and 1,408 cached tokens), sends 60 more and answers in 20.</summary>
    public static FakeOpenAIServerOptions Options() => new() { UsageOf = UsageOf };

    /// <summary>The usage of one request (see <see cref="Options"/>).</summary>
    public static FakeUsage UsageOf(RecordedRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        int prompt = request.Api == OpenAIApi.Responses ? 1_500 : 1_200;
        return CarriesToolResult(request.Body)
            ? new FakeUsage(prompt + 60, 20, CachedInputTokens: prompt / 128 * 128)
            : new FakeUsage(prompt, 40);
    }

    /// <summary>Whether the body carries a tool result: a Chat Completions message of role <c>tool</c>, or a Responses
    /// input item of type <c>function_call_output</c>.</summary>
    private static bool CarriesToolResult(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            JsonElement root = json.RootElement;
            return (root.TryGetProperty("messages", out JsonElement messages) && Any(messages, "role", "tool")) ||
                (root.TryGetProperty("input", out JsonElement input) && Any(input, "type", "function_call_output"));
        }
        catch (JsonException)
        {
            return false;
        }

        static bool Any(JsonElement items, string property, string value) =>
            items.ValueKind == JsonValueKind.Array && items.EnumerateArray().Any(i =>
                i.ValueKind == JsonValueKind.Object && i.TryGetProperty(property, out JsonElement p) && p.ValueKind == JsonValueKind.String && p.GetString() == value);
    }
}
