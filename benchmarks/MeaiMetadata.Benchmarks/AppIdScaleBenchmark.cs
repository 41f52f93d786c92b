using System.Globalization;
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
public class AppIdScaleBenchmark
{
    private readonly ChatMessage[] _messages = [new(ChatRole.User, "hi")];
    private FakeOpenAIChatClient _inner = null!;
    private IChatClient _recipe = null!;
    private IChatClient _dify = null!;
    private string[] _ids = [];
    private int _next;
    private string? _lastId;

    [Params(1, 1_000, 100_000)]
    public int DistinctAppIds { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Check.NoSession(nameof(AppIdScaleBenchmark));
        _ids = [.. Enumerable.Range(0, DistinctAppIds).Select(i => "app-" + i.ToString("D6", CultureInfo.InvariantCulture))];
        _next = 0;
        _inner = new FakeOpenAIChatClient();
        _recipe = Recipes.ChatCompletionsPerRequestId(_inner, NextId);
        _dify = new ChatClientBuilder(_inner).UseDifyMetadata(o => o.AppIdResolver = NextId).Build();

        _ = _dify.GetResponseAsync(_messages).GetAwaiter().GetResult();
        Check.Tagged(_inner.LastRawOptions, _lastId!, nameof(AppIdScaleBenchmark) + " (setup)");
        _ = _recipe.GetResponseAsync(_messages).GetAwaiter().GetResult();
        Check.Tagged(_inner.LastRawOptions, _lastId!, nameof(AppIdScaleBenchmark) + " recipe (setup)");
    }

    [GlobalCleanup(Targets = new[] { nameof(RecipePerRequestId), nameof(DifyAppIdResolver) })]
    public void CleanupTagged() => Check.Tagged(_inner.LastRawOptions, _lastId!, nameof(AppIdScaleBenchmark) + " (last measured call)");

    [Benchmark(Baseline = true)]
    public Task<ChatResponse> Bare() => _inner.GetResponseAsync(_messages);

    [Benchmark]
    [Recipe]
    public Task<ChatResponse> RecipePerRequestId() => _recipe.GetResponseAsync(_messages);

    [Benchmark]
    public Task<ChatResponse> DifyAppIdResolver() => _dify.GetResponseAsync(_messages);

    private string NextId()
    {
        string id = _ids[_next];
        _next = _next + 1 == _ids.Length ? 0 : _next + 1;
        _lastId = id;
        return id;
    }
}
