using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// End to end through the official OpenAI SDK, serializing the request and parsing the answer over an in-memory
/// <see cref="HttpMessageHandler"/>: the bare client, the hand-written recipe, and <c>UseDifyMetadata()</c> in a session.
/// The derived classes say which API.
/// </summary>
public abstract class EndToEndBenchmark
{
    private readonly ChatMessage[] _messages = [new(ChatRole.User, "hi")];
    private InMemoryOpenAIHandler _handler = null!;
    private IChatClient _bare = null!;
    private IChatClient _recipe = null!;
    private IChatClient _dify = null!;
    private IDisposable? _session;

    private string Name => GetType().Name;

    [GlobalSetup]
    public void Setup()
    {
        Check.NoSession(Name);
        _handler = new InMemoryOpenAIHandler();
        _bare = CreateBare(_handler);
        _recipe = CreateRecipe(_bare);
        _dify = new ChatClientBuilder(_bare).UseDifyMetadata().Build();

        _ = _bare.GetResponseAsync(_messages).GetAwaiter().GetResult();
        Check.BodyLacks(_handler, "\"dify_app_id\"", nameof(Bare) + " (setup)");
        _ = _recipe.GetResponseAsync(_messages).GetAwaiter().GetResult();
        Check.BodyContains(_handler, "\"dify_app_id\"", nameof(Recipe) + " (setup)");
    }

    [GlobalSetup(Target = nameof(DifyInSession))]
    public void SetupInSession()
    {
        Setup();
        _session = DifySession.Begin(Recipes.AppId);
        _ = _dify.GetResponseAsync(_messages).GetAwaiter().GetResult();
        Check.BodyContains(_handler, "\"dify_app_id\"", nameof(DifyInSession) + " (setup)");
        Check.BodyContains(_handler, "\"store\":true", nameof(DifyInSession) + " (setup)");
    }

    [GlobalCleanup(Targets = new[] { nameof(Recipe), nameof(DifyInSession) })]
    public void CleanupTagged()
    {
        _session?.Dispose();
        Check.BodyContains(_handler, "\"dify_app_id\"", Name + " (last measured call)");
        _handler.Dispose();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Check.BodyLacks(_handler, "\"dify_app_id\"", Name + " (last measured call)");
        _handler.Dispose();
    }

    [Benchmark(Baseline = true)]
    public Task<ChatResponse> Bare() => _bare.GetResponseAsync(_messages);

    [Benchmark]
    [Recipe]
    public Task<ChatResponse> Recipe() => _recipe.GetResponseAsync(_messages);

    [Benchmark]
    public Task<ChatResponse> DifyInSession() => _dify.GetResponseAsync(_messages);

    /// <summary>Creates the SDK's <see cref="IChatClient"/> for the API over <paramref name="handler"/>.</summary>
    protected abstract IChatClient CreateBare(InMemoryOpenAIHandler handler);

    /// <summary>Wraps <paramref name="bare"/> in the hand-written recipe for the API.</summary>
    protected abstract IChatClient CreateRecipe(IChatClient bare);
}
