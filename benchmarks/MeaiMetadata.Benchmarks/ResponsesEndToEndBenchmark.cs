using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;
using OpenAI.Responses;

#pragma warning disable OPENAI001 // The Responses API types are marked experimental by the OpenAI SDK.

namespace MeaiMetadata.Benchmarks;

/// <summary>End to end, Responses: <see cref="ResponsesClient"/> through MEAI's <c>AsIChatClient(model)</c>.</summary>
[MemoryDiagnoser]
[Config(typeof(RecipeComparisonConfig))]
public class ResponsesEndToEndBenchmark : EndToEndBenchmark
{
    protected override IChatClient CreateBare(InMemoryOpenAIHandler handler) =>
        OpenAIClients.Create(handler).GetResponsesClient().AsIChatClient("gpt-4o-mini");

    protected override IChatClient CreateRecipe(IChatClient bare) => Recipes.Responses(bare);
}
