using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// Scale in distinct app ids, session per request: each operation is <c>DifySession.Begin(next of N ids)</c> + one request
/// + <c>Dispose</c>, the way a server handles one request of one app. The figures include the session's own cost
/// (<see cref="BeginDispose"/> shows it alone); the recipe row reads <see cref="DifySession.Current"/> in a per-request closure.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(RecipeComparisonConfig))]
public class SessionScaleBenchmark : AppIdRotationBenchmark
{
    private IChatClient _recipe = null!;
    private IChatClient _dify = null!;

    [GlobalSetup]
    public void Setup()
    {
        SetupRotation();
        _recipe = Recipes.ChatCompletionsPerRequestId(Inner, static () => DifySession.Current?.AppId);
        _dify = new ChatClientBuilder(Inner).UseDifyMetadata().Build();

        _ = BeginDifyDispose().GetAwaiter().GetResult();
        CheckLastTagged("(setup)");
        _ = BeginRecipeDispose().GetAwaiter().GetResult();
        CheckLastTagged("recipe (setup)");
        Check.NoSession(nameof(SessionScaleBenchmark) + " (setup)");
    }

    [GlobalCleanup(Targets = new[] { nameof(BeginRecipeDispose), nameof(BeginDifyDispose) })]
    public void CleanupTagged()
    {
        CheckLastTagged("(last measured call)");
        Check.NoSession(nameof(SessionScaleBenchmark) + " (cleanup)");
    }

    [GlobalCleanup]
    public void Cleanup() => Check.NoSession(nameof(SessionScaleBenchmark) + " (cleanup)");

    [Benchmark]
    public void BeginDispose()
    {
        using (DifySession.Begin(NextId()))
        {
        }
    }

    [Benchmark]
    [Recipe]
    public Task<ChatResponse> BeginRecipeDispose()
    {
        using (DifySession.Begin(NextId()))
        {
            return _recipe.GetResponseAsync(Messages);
        }
    }

    [Benchmark]
    public Task<ChatResponse> BeginDifyDispose()
    {
        using (DifySession.Begin(NextId()))
        {
            return _dify.GetResponseAsync(Messages);
        }
    }
}
