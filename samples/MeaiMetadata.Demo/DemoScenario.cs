using Microsoft.Extensions.AI;
using OpenAI.Chat;

namespace MeaiMetadata.Demo;

/// <summary>Which pipeline a step uses.</summary>
public enum DemoApi
{
    ChatCompletions,
    Responses,
}

/// <summary>One request of the scenario, as a user of the library would write it.</summary>
/// <param name="Title">What the step shows.</param>
/// <param name="App">The app session it runs in; <see langword="null"/> for none.</param>
/// <param name="Api">The API.</param>
/// <param name="Streaming">Whether it streams.</param>
/// <param name="Options">The caller's own options, if any.</param>
public sealed record DemoStep(string Title, string? App, DemoApi Api, bool Streaming, Func<ChatOptions>? Options = null);

/// <summary>The scenario: two apps, both APIs, streaming and not, a tool round trip, store=false, caller metadata, no session.</summary>
public static class DemoScenario
{
    public const string SupportBot = "support-bot";
    public const string SalesAssistant = "sales-assistant";

    public static IReadOnlyList<DemoStep> Steps { get; } =
    [
        new("question", SupportBot, DemoApi.ChatCompletions, Streaming: false),
        new("question, streamed", SupportBot, DemoApi.ChatCompletions, Streaming: true),
        new("question", SalesAssistant, DemoApi.Responses, Streaming: false),
        new("question, streamed", SalesAssistant, DemoApi.Responses, Streaming: true),
        new("tool round trip (get_weather)", SupportBot, DemoApi.ChatCompletions, Streaming: false, WithWeatherTool),
        new("tool round trip, streamed", SalesAssistant, DemoApi.Responses, Streaming: true, WithWeatherTool),
        new("caller sets store=false", SalesAssistant, DemoApi.ChatCompletions, Streaming: false, StoreFalse),
        new("caller brings metadata", SupportBot, DemoApi.ChatCompletions, Streaming: false, CallerMetadata),
        new("outside any session", App: null, DemoApi.ChatCompletions, Streaming: false),
    ];

    private static ChatOptions WithWeatherTool() =>
        new() { Tools = [AIFunctionFactory.Create(() => "sunny, 21°C", "get_weather", "Gets the weather where the user is.")] };

    // The provider-neutral way: the layer decides before the request goes on and puts store:false on the wire itself.
    // (Raw options with their own store flag are decided after the layer ran: README, "What each channel carries".)
    private static ChatOptions StoreFalse() => new() { AdditionalProperties = new() { ["store"] = false } };

    private static ChatOptions CallerMetadata() => new()
    {
        RawRepresentationFactory = static _ =>
        {
            var options = new ChatCompletionOptions();
            options.Metadata["team"] = "search";
            options.Metadata["dify_app_id"] = "spoofed-by-caller"; // the session's id wins: attribution cannot be spoofed
            return options;
        },
    };
}
