using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// Middleware level, streaming: the same rows as <see cref="MiddlewareBenchmark"/>; the inner client returns a cached
/// one-update sequence, consumed fully by every row.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(RecipeComparisonConfig))]
public class MiddlewareStreamingBenchmark
{
    private readonly MiddlewarePipelines _p = new();

    [Params(CallerOptions.Null, CallerOptions.Caller)]
    public CallerOptions Options { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _p.Build(Options);
        Check.NoSession(nameof(MiddlewareStreamingBenchmark));
    }

    [GlobalSetup(Targets = new[] { nameof(DifyInSession), nameof(DifyInSessionNoAdditionalProperties) })]
    public void SetupInSession()
    {
        _p.Build(Options);
        _p.BeginSession();
        _ = Consume(_p.Dify).GetAwaiter().GetResult();
        Check.Tagged(_p.Inner.LastRawOptions, Recipes.AppId, nameof(DifyInSession) + " (setup)");
    }

    [GlobalCleanup(Targets = new[] { nameof(Recipe), nameof(DifyInSession), nameof(DifyInSessionNoAdditionalProperties) })]
    public void CleanupTagged()
    {
        _p.EndSession();
        Check.Tagged(_p.Inner.LastRawOptions, Recipes.AppId, nameof(MiddlewareStreamingBenchmark) + " tagged row (last measured call)");
    }

    [GlobalCleanup]
    public void CleanupUntagged() => Check.Untagged(_p.Inner.LastRawOptions, nameof(MiddlewareStreamingBenchmark) + " untagged row");

    [Benchmark(Baseline = true)]
    public Task<int> Bare() => Consume(_p.Inner);

    [Benchmark]
    public Task<int> PassThrough() => Consume(_p.PassThrough);

    [Benchmark]
    [Recipe]
    public Task<int> Recipe() => Consume(_p.Recipe);

    [Benchmark]
    public Task<int> DifyDisabled() => Consume(_p.DifyDisabled);

    [Benchmark]
    public Task<int> DifyNoSession() => Consume(_p.Dify);

    [Benchmark]
    public Task<int> DifyInSession() => Consume(_p.Dify);

    [Benchmark]
    public Task<int> DifyInSessionNoAdditionalProperties() => Consume(_p.DifyNoAdditionalProperties);

    private async Task<int> Consume(IChatClient client)
    {
        int updates = 0;
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(_p.Messages, _p.Options))
        {
            updates += update.Contents.Count;
        }

        return updates;
    }
}
