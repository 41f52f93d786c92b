using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// Scale in distinct app ids, request alone: every call takes the next of N distinct ids from a rotating array (through
/// <see cref="DifyMetadataOptions.AppIdResolver"/> for the middleware, through a per-request closure for the recipe), so
/// no session is begun inside the measured code. With N = 1 every call has the same id.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(RecipeComparisonConfig))]
public class AppIdScaleBenchmark : AppIdRotationBenchmark
{
    private IChatClient _recipe = null!;
    private IChatClient _dify = null!;

    [GlobalSetup]
    public void Setup()
    {
        SetupRotation();
        _recipe = Recipes.ChatCompletionsPerRequestId(Inner, NextId);
        _dify = new ChatClientBuilder(Inner).UseDifyMetadata(o => o.AppIdResolver = NextId).Build();

        _ = _dify.GetResponseAsync(Messages).GetAwaiter().GetResult();
        CheckLastTagged("(setup)");
        _ = _recipe.GetResponseAsync(Messages).GetAwaiter().GetResult();
        CheckLastTagged("recipe (setup)");
    }

    [GlobalCleanup(Targets = new[] { nameof(RecipePerRequestId), nameof(DifyAppIdResolver) })]
    public void CleanupTagged() => CheckLastTagged("(last measured call)");

    [Benchmark]
    [Recipe]
    public Task<ChatResponse> RecipePerRequestId() => _recipe.GetResponseAsync(Messages);

    [Benchmark]
    public Task<ChatResponse> DifyAppIdResolver() => _dify.GetResponseAsync(Messages);
}
