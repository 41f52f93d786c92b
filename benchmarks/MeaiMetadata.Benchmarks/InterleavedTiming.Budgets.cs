using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Benchmarks;

/// <summary>The budget rows of the interleaved timing (<c>-- --interleaved budgets</c>).</summary>
public static partial class InterleavedTiming
{
    // A call through a RESP store waits for two loopback round trips (~100 µs): fewer calls per round than the other sections.
    private const int BudgetRounds = 25;

    /// <summary>End to end, Chat Completions, tagged in a session: no budget (the reference), a budget on the in-memory store,
    /// on an embedded Garnet and on redis-server at 127.0.0.1:6379 (when it answers), interleaved as <see cref="Run"/> does.</summary>
    public static void RunBudgets()
    {
        ChatMessage[] messages = [new(ChatRole.User, "hi")];
        using var handler = new InMemoryOpenAIHandler();
        IChatClient bare = OpenAIClients.Create(handler).GetChatClient("gpt-4o-mini").AsIChatClient();
        List<BudgetStore> stores = [.. BudgetStoreBenchmark.Stores];
        BudgetPipeline[] pipelines = [.. stores.Select(s => BudgetPipeline.Create(s, bare))];
        try
        {
            Console.WriteLine($"load average before: {LoadAverage()}");
            Measure("Budgets, end to end, Chat Completions, in-memory store", BudgetRounds, 10_000, null, messages, referenceA: 0, referenceB: 1,
            [
                ("Bare", bare, false), ("NoBudget", pipelines[0].Client, true), ("InMemoryBudget", pipelines[1].Client, true),
            ]);
            // The floor of a RESP store: the call without a budget and with two PINGs on the same connection around it (the
            // round trips alone, no script, no budget code).
            Measure("Budgets, end to end, Chat Completions, RESP stores on loopback", BudgetRounds, 1_000, null, messages, referenceA: 0, referenceB: 1,
            [
                ("NoBudget", pipelines[0].Client, true), ("InMemoryBudget", pipelines[1].Client, true),
                .. pipelines.Skip(2).SelectMany(p => new[]
                {
                    ($"NoBudget + 2 PINGs ({p.Store})", (IChatClient)new TwoPingsChatClient(pipelines[0].Client, p.Connection!.GetDatabase()), true),
                    ($"{p.Store}Budget", p.Client, true),
                }),
            ]);
            Console.WriteLine();
            Console.WriteLine($"load average after: {LoadAverage()}");
            Console.WriteLine("(Allocated/call counts this thread only: the RESP rows' continuations and the embedded Garnet run on others.)");
        }
        finally
        {
            foreach (BudgetPipeline pipeline in pipelines)
            {
                pipeline.Dispose();
            }
        }
    }

    /// <summary>Awaits a PING before and after the inner call: two round trips on the store's connection, nothing else.</summary>
    private sealed class TwoPingsChatClient(IChatClient inner, StackExchange.Redis.IDatabase db) : DelegatingChatClient(inner)
    {
        public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            _ = await db.PingAsync().ConfigureAwait(false);
            ChatResponse response = await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
            _ = await db.PingAsync().ConfigureAwait(false);
            return response;
        }
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "(unknown)";
}
