using System.Globalization;
using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// Scale in caller metadata: the caller's raw-options factory returns a <see cref="ChatCompletionOptions"/> that already has
/// 0, 8 or 16 metadata pairs. All rows run in one session. With 16 pairs the middleware gives one caller pair up to stay
/// within OpenAI's 16 (and logs a warning); the recipe sends 18 pairs, a request OpenAI rejects.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(RecipeComparisonConfig))]
public class CallerMetadataScaleBenchmark
{
    private readonly ChatMessage[] _messages = [new(ChatRole.User, "hi")];
    private FakeOpenAIChatClient _inner = null!;
    private IChatClient _recipe = null!;
    private IChatClient _dify = null!;
    private ChatOptions _options = null!;
    private IDisposable? _session;

    [Params(0, 8, 16)]
    public int CallerPairs { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Check.NoSession(nameof(CallerMetadataScaleBenchmark));
        string[] keys = [.. Enumerable.Range(0, CallerPairs).Select(i => "caller_key_" + i.ToString("D2", CultureInfo.InvariantCulture))];
        string[] values = [.. Enumerable.Range(0, CallerPairs).Select(i => "caller value " + i.ToString(CultureInfo.InvariantCulture))];
        _options = new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions();
                for (int i = 0; i < keys.Length; i++)
                {
                    raw.Metadata[keys[i]] = values[i];
                }

                return raw;
            },
        };

        _inner = new FakeOpenAIChatClient();
        _recipe = Recipes.ChatCompletionsWrappingCallerFactory(_inner);
        _dify = new ChatClientBuilder(_inner).UseDifyMetadata().Build();
        _session = DifySession.Begin(Recipes.AppId);

        _ = _dify.GetResponseAsync(_messages, _options).GetAwaiter().GetResult();
        CheckDifyRow(nameof(CallerMetadataScaleBenchmark) + " (setup)");
    }

    [GlobalCleanup(Target = nameof(DifyInSession))]
    public void CleanupDify()
    {
        EndSession();
        CheckDifyRow(nameof(CallerMetadataScaleBenchmark) + " (last measured call)");
    }

    [GlobalCleanup(Target = nameof(RecipeWrappingCallerFactory))]
    public void CleanupRecipe()
    {
        EndSession();
        Check.Tagged(_inner.LastRawOptions, Recipes.AppId, nameof(CallerMetadataScaleBenchmark) + " recipe (last measured call)");
    }

    [GlobalCleanup]
    public void Cleanup() => EndSession();

    [Benchmark(Baseline = true)]
    public Task<ChatResponse> Bare() => _inner.GetResponseAsync(_messages, _options);

    [Benchmark]
    [Recipe]
    public Task<ChatResponse> RecipeWrappingCallerFactory() => _recipe.GetResponseAsync(_messages, _options);

    [Benchmark]
    public Task<ChatResponse> DifyInSession() => _dify.GetResponseAsync(_messages, _options);

    private void CheckDifyRow(string row)
    {
        Check.Tagged(_inner.LastRawOptions, Recipes.AppId, row);
        int expected = Math.Min(CallerPairs + 2, 16);
        if (_inner.LastRawOptions!.Metadata.Count != expected)
        {
            throw new InvalidOperationException($"{row}: expected {expected} metadata pairs, got {_inner.LastRawOptions.Metadata.Count}.");
        }
    }

    private void EndSession()
    {
        _session?.Dispose();
        _session = null;
    }
}
