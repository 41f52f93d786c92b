using System.Globalization;
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
public class SessionScaleBenchmark
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
        Check.NoSession(nameof(SessionScaleBenchmark));
        _ids = [.. Enumerable.Range(0, DistinctAppIds).Select(i => "app-" + i.ToString("D6", CultureInfo.InvariantCulture))];
        _next = 0;
        _inner = new FakeOpenAIChatClient();
        _recipe = Recipes.ChatCompletionsPerRequestId(_inner, static () => DifySession.Current?.AppId);
        _dify = new ChatClientBuilder(_inner).UseDifyMetadata().Build();

        _ = BeginDifyDispose().GetAwaiter().GetResult();
        Check.Tagged(_inner.LastRawOptions, _lastId!, nameof(SessionScaleBenchmark) + " (setup)");
        _ = BeginRecipeDispose().GetAwaiter().GetResult();
        Check.Tagged(_inner.LastRawOptions, _lastId!, nameof(SessionScaleBenchmark) + " recipe (setup)");
        Check.NoSession(nameof(SessionScaleBenchmark) + " (setup)");
    }

    [GlobalCleanup(Targets = new[] { nameof(BeginRecipeDispose), nameof(BeginDifyDispose) })]
    public void CleanupTagged()
    {
        Check.Tagged(_inner.LastRawOptions, _lastId!, nameof(SessionScaleBenchmark) + " (last measured call)");
        Check.NoSession(nameof(SessionScaleBenchmark) + " (cleanup)");
    }

    [GlobalCleanup]
    public void Cleanup() => Check.NoSession(nameof(SessionScaleBenchmark) + " (cleanup)");

    [Benchmark(Baseline = true)]
    public Task<ChatResponse> Bare() => _inner.GetResponseAsync(_messages);

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
            return _recipe.GetResponseAsync(_messages);
        }
    }

    [Benchmark]
    public Task<ChatResponse> BeginDifyDispose()
    {
        using (DifySession.Begin(NextId()))
        {
            return _dify.GetResponseAsync(_messages);
        }
    }

    private string NextId()
    {
        string id = _ids[_next];
        _next = _next + 1 == _ids.Length ? 0 : _next + 1;
        _lastId = id;
        return id;
    }
}
