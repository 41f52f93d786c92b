using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;

#pragma warning disable OPENAI001 // The Responses API types are marked experimental by the OpenAI SDK.

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// Budgets (issue 21), end to end through the official OpenAI SDK over the in-memory handler: a tagged call of an app with a
/// budget on the in-memory store (<see cref="InMemoryBudget"/>) against the same tagged call without a budget
/// (<see cref="NoBudget"/>, the baseline), and the bare client. Both Dify rows are built the DI way
/// (<c>AddDifyMetadata</c> + <c>UseDifyMetadata().Build(services)</c>) and run inside <c>DifySession.Begin("app")</c> with
/// <c>options: null</c>; the budgeted one therefore also sends the output bound it reserved (16,384 tokens).
/// </summary>
public abstract class BudgetEndToEndBenchmark
{
    private readonly ChatMessage[] _messages = [new(ChatRole.User, "hi")];
    private InMemoryOpenAIHandler _handler = null!;
    private IChatClient _bare = null!;
    private BudgetPipeline _noBudget = null!;
    private BudgetPipeline _inMemory = null!;
    private IDisposable? _session;
    private long _spentAfterSetup;

    private string Name => GetType().Name;

    /// <summary>Gets the JSON the budgeted request must carry: its output bound.</summary>
    protected abstract string OutputBoundJson { get; }

    [GlobalSetup]
    public void Setup()
    {
        Check.NoSession(Name);
        _handler = new InMemoryOpenAIHandler();
        _bare = CreateBare(_handler);
        _noBudget = BudgetPipeline.Create(BudgetStore.None, _bare);
        _inMemory = BudgetPipeline.Create(BudgetStore.InMemory, _bare);
        _session = DifySession.Begin(Recipes.AppId);

        _ = _noBudget.Client.GetResponseAsync(_messages).GetAwaiter().GetResult();
        Check.BodyContains(_handler, "\"dify_app_id\"", nameof(NoBudget) + " (setup)");
        Check.BodyLacks(_handler, OutputBoundJson, nameof(NoBudget) + " (setup)");
        _ = _inMemory.Client.GetResponseAsync(_messages).GetAwaiter().GetResult();
        Check.BodyContains(_handler, "\"dify_app_id\"", nameof(InMemoryBudget) + " (setup)");
        Check.BodyContains(_handler, OutputBoundJson, nameof(InMemoryBudget) + " (setup)");
        _spentAfterSetup = _inMemory.SpentToday(Recipes.AppId);
        if (_spentAfterSetup <= 0)
        {
            throw Check.Fail($"{Name}.{nameof(InMemoryBudget)} (setup): the call left no spend on the in-memory store.");
        }

        _ = _bare.GetResponseAsync(_messages).GetAwaiter().GetResult();
        Check.BodyLacks(_handler, "\"dify_app_id\"", nameof(Bare) + " (setup)");
    }

    [GlobalCleanup(Target = nameof(InMemoryBudget))]
    public void CleanupBudget()
    {
        Check.BodyContains(_handler, OutputBoundJson, Name + "." + nameof(InMemoryBudget) + " (last measured call)");
        if (_inMemory.SpentToday(Recipes.AppId) <= _spentAfterSetup)
        {
            _ = Check.Fail($"{Name}.{nameof(InMemoryBudget)}: the measured calls settled nothing on the store.");
        }

        Cleanup();
    }

    [GlobalCleanup(Target = nameof(NoBudget))]
    public void CleanupNoBudget()
    {
        Check.BodyContains(_handler, "\"dify_app_id\"", Name + "." + nameof(NoBudget) + " (last measured call)");
        Check.BodyLacks(_handler, OutputBoundJson, Name + "." + nameof(NoBudget) + " (last measured call)");
        Cleanup();
    }

    [GlobalCleanup(Target = nameof(Bare))]
    public void Cleanup()
    {
        _session?.Dispose();
        _noBudget.Dispose();
        _inMemory.Dispose();
        _handler.Dispose();
    }

    [Benchmark]
    public Task<ChatResponse> Bare() => _bare.GetResponseAsync(_messages);

    [Benchmark(Baseline = true)]
    public Task<ChatResponse> NoBudget() => _noBudget.Client.GetResponseAsync(_messages);

    [Benchmark]
    public Task<ChatResponse> InMemoryBudget() => _inMemory.Client.GetResponseAsync(_messages);

    /// <summary>Creates the SDK's <see cref="IChatClient"/> for the API over <paramref name="handler"/>.</summary>
    protected abstract IChatClient CreateBare(InMemoryOpenAIHandler handler);
}

/// <summary><see cref="BudgetEndToEndBenchmark"/> on Chat Completions.</summary>
[MemoryDiagnoser]
public class ChatCompletionsBudgetBenchmark : BudgetEndToEndBenchmark
{
    protected override string OutputBoundJson => "\"max_completion_tokens\":16384";

    protected override IChatClient CreateBare(InMemoryOpenAIHandler handler) =>
        OpenAIClients.Create(handler).GetChatClient("gpt-4o-mini").AsIChatClient();
}

/// <summary><see cref="BudgetEndToEndBenchmark"/> on Responses.</summary>
[MemoryDiagnoser]
public class ResponsesBudgetBenchmark : BudgetEndToEndBenchmark
{
    protected override string OutputBoundJson => "\"max_output_tokens\":16384";

    protected override IChatClient CreateBare(InMemoryOpenAIHandler handler) =>
        OpenAIClients.Create(handler).GetResponsesClient().AsIChatClient("gpt-4o-mini");
}
