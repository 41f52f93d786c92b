using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// Middleware level, non-streaming: each layer over <see cref="FakeOpenAIChatClient"/> (consumes the options the way
/// OpenAIChatClient does, no I/O), so the rows differ only by what the layer does to the options.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(RecipeComparisonConfig))]
public class MiddlewareBenchmark
{
    private readonly MiddlewarePipelines _p = new();

    [Params(CallerOptions.Null, CallerOptions.Caller)]
    public CallerOptions Options { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _p.Build(Options);
        Check.NoSession(nameof(MiddlewareBenchmark));
    }

    [GlobalSetup(Targets = new[] { nameof(DifyInSession), nameof(DifyInSessionNoAdditionalProperties) })]
    public void SetupInSession()
    {
        _p.Build(Options);
        _p.BeginSession();

        // One call here proves the session and the layer work; the cleanup proves the measured calls saw the session too.
        _ = _p.Dify.GetResponseAsync(_p.Messages, _p.Options).GetAwaiter().GetResult();
        Check.Tagged(_p.Inner.LastRawOptions, Recipes.AppId, nameof(DifyInSession) + " (setup)");
    }

    [GlobalCleanup(Targets = new[] { nameof(Recipe), nameof(DifyInSession), nameof(DifyInSessionNoAdditionalProperties) })]
    public void CleanupTagged()
    {
        _p.EndSession();
        Check.Tagged(_p.Inner.LastRawOptions, Recipes.AppId, nameof(MiddlewareBenchmark) + " tagged row (last measured call)");
    }

    [GlobalCleanup]
    public void CleanupUntagged() => Check.Untagged(_p.Inner.LastRawOptions, nameof(MiddlewareBenchmark) + " untagged row");

    [Benchmark(Baseline = true)]
    public Task<ChatResponse> Bare() => _p.Inner.GetResponseAsync(_p.Messages, _p.Options);

    [Benchmark]
    public Task<ChatResponse> PassThrough() => _p.PassThrough.GetResponseAsync(_p.Messages, _p.Options);

    [Benchmark]
    [Recipe]
    public Task<ChatResponse> Recipe() => _p.Recipe.GetResponseAsync(_p.Messages, _p.Options);

    [Benchmark]
    public Task<ChatResponse> DifyDisabled() => _p.DifyDisabled.GetResponseAsync(_p.Messages, _p.Options);

    [Benchmark]
    public Task<ChatResponse> DifyNoSession() => _p.Dify.GetResponseAsync(_p.Messages, _p.Options);

    [Benchmark]
    public Task<ChatResponse> DifyInSession() => _p.Dify.GetResponseAsync(_p.Messages, _p.Options);

    [Benchmark]
    public Task<ChatResponse> DifyInSessionNoAdditionalProperties() =>
        _p.DifyNoAdditionalProperties.GetResponseAsync(_p.Messages, _p.Options);
}
