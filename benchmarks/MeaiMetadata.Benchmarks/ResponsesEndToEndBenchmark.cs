using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;
using OpenAI.Responses;

#pragma warning disable OPENAI001 // The Responses API types are marked experimental by the OpenAI SDK.

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// End to end, Responses: the official OpenAI SDK (<see cref="ResponsesClient"/> through MEAI's <c>AsIChatClient(model)</c>)
/// serializing the request and parsing the answer, over an in-memory <see cref="HttpMessageHandler"/>.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(RecipeComparisonConfig))]
public class ResponsesEndToEndBenchmark
{
    private readonly ChatMessage[] _messages = [new(ChatRole.User, "hi")];
    private InMemoryOpenAIHandler _handler = null!;
    private IChatClient _bare = null!;
    private IChatClient _recipe = null!;
    private IChatClient _dify = null!;
    private IDisposable? _session;

    [GlobalSetup]
    public void Setup()
    {
        Check.NoSession(nameof(ResponsesEndToEndBenchmark));
        _handler = new InMemoryOpenAIHandler();
        _bare = OpenAIClients.Create(_handler).GetResponsesClient().AsIChatClient("gpt-4o-mini");
        _recipe = Recipes.Responses(_bare);
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
        Check.BodyContains(_handler, "\"dify_app_id\"", nameof(ResponsesEndToEndBenchmark) + " (last measured call)");
        _handler.Dispose();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Check.BodyLacks(_handler, "\"dify_app_id\"", nameof(ResponsesEndToEndBenchmark) + " (last measured call)");
        _handler.Dispose();
    }

    [Benchmark(Baseline = true)]
    public Task<ChatResponse> Bare() => _bare.GetResponseAsync(_messages);

    [Benchmark]
    [Recipe]
    public Task<ChatResponse> Recipe() => _recipe.GetResponseAsync(_messages);

    [Benchmark]
    public Task<ChatResponse> DifyInSession() => _dify.GetResponseAsync(_messages);
}
