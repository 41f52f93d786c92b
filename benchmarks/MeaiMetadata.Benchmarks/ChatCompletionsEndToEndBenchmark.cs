using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;
using OpenAI.Chat;

namespace MeaiMetadata.Benchmarks;

/// <summary>End to end, Chat Completions: <see cref="ChatClient"/> through MEAI's <c>AsIChatClient()</c>.</summary>
[MemoryDiagnoser]
[Config(typeof(RecipeComparisonConfig))]
public class ChatCompletionsEndToEndBenchmark : EndToEndBenchmark
{
    protected override IChatClient CreateBare(InMemoryOpenAIHandler handler) =>
        OpenAIClients.Create(handler).GetChatClient("gpt-4o-mini").AsIChatClient();

    protected override IChatClient CreateRecipe(IChatClient bare) => Recipes.ChatCompletions(bare);
}
