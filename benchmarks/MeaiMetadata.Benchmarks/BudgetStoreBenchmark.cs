using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;
using StackExchange.Redis.Profiling;

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// Budgets (issue 21): the latency a budget store adds to a tagged Chat Completions call end to end (official SDK, in-memory
/// handler), by <see cref="Store"/>: no budget, the in-memory store, an embedded Garnet in this process and redis-server on
/// 127.0.0.1:6379 (that row only when it answers), both over loopback TCP with StackExchange.Redis. The setup counts the
/// commands one call sends to a RESP store (StackExchange.Redis profiling, off while measuring) and fails the run when they
/// are more than two (one reservation before the call, one settlement after); it prints them.
/// </summary>
[MemoryDiagnoser]
public class BudgetStoreBenchmark
{
    private readonly ChatMessage[] _messages = [new(ChatRole.User, "hi")];
    private InMemoryOpenAIHandler _handler = null!;
    private BudgetPipeline _pipeline = null!;
    private IDisposable? _session;
    private long _spentAfterSetup;

    /// <summary>Gets the stores to measure: redis-server only when it answers on 127.0.0.1:6379.</summary>
    public static IEnumerable<BudgetStore> Stores =>
        BudgetPipeline.RedisReachable
            ? [BudgetStore.None, BudgetStore.InMemory, BudgetStore.Garnet, BudgetStore.Redis]
            : [BudgetStore.None, BudgetStore.InMemory, BudgetStore.Garnet];

    [ParamsSource(nameof(Stores))]
    public BudgetStore Store { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Check.NoSession(nameof(BudgetStoreBenchmark));
        _handler = new InMemoryOpenAIHandler();
        _pipeline = BudgetPipeline.Create(Store, OpenAIClients.Create(_handler).GetChatClient("gpt-4o-mini").AsIChatClient());
        _session = DifySession.Begin(Recipes.AppId);
        string row = $"{nameof(BudgetStoreBenchmark)}({Store}) (setup)";

        _ = _pipeline.Client.GetResponseAsync(_messages).GetAwaiter().GetResult(); // connects, loads the scripts
        IReadOnlyList<IProfiledCommand> commands = _pipeline.CountRoundTrips(() => _pipeline.Client.GetResponseAsync(_messages).GetAwaiter().GetResult());
        Check.BodyContains(_handler, "\"dify_app_id\"", row);
        if (Store is BudgetStore.Garnet or BudgetStore.Redis)
        {
            Console.WriteLine($"// {Store}: round trips of one budgeted call: {commands.Count} ({string.Join(", ", commands.Select(c => c.Command))})");
            if (commands.Count is not 2)
            {
                throw Check.Fail($"{row}: one budgeted call sent {commands.Count} commands to the store ({string.Join(", ", commands.Select(c => c.Command))}); expected 2 (reserve, settle).");
            }
        }

        _spentAfterSetup = _pipeline.SpentToday(Recipes.AppId);
        if ((Store == BudgetStore.None) != (_spentAfterSetup == 0))
        {
            throw Check.Fail($"{row}: spend on the store after setup is {_spentAfterSetup} nano-USD.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Check.BodyContains(_handler, "\"dify_app_id\"", $"{nameof(BudgetStoreBenchmark)}({Store}) (last measured call)");
        if (Store != BudgetStore.None && _pipeline.SpentToday(Recipes.AppId) <= _spentAfterSetup)
        {
            _ = Check.Fail($"{nameof(BudgetStoreBenchmark)}({Store}): the measured calls settled nothing on the store.");
        }

        _session?.Dispose();
        _pipeline.Dispose();
        _handler.Dispose();
    }

    [Benchmark]
    public Task<ChatResponse> TaggedCall() => _pipeline.Client.GetResponseAsync(_messages);
}
