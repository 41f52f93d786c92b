using MeaiMetadata.Budgets.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Session 9 attack on the stream's single finally (7ed7559): the inner enumerator is disposed first there, so a
/// DisposeAsync that throws skips the budget's settlement.</summary>
public sealed class Session9AttackTests
{
    private const string Model = "gpt-4o-mini";
    private const long Reservation = (16 * 150) + (100 * 600); // nano-dollars, as in DifyBudgetChatClientTests
    private const long Actual = (5 * 150) + (3 * 600);

    /// <summary>docs/budgets.md / operations.md: a stream settles "at the end, on abandon or failure" to what it used (the
    /// usage update at its end). A stream that delivered its usage update and then fails to close (its enumerator's
    /// DisposeAsync throws) is never settled: the app stays charged its whole reservation (62,400 n$ instead of 2,550),
    /// because ExitInnerCall, SettleAsync and Record come after the dispose in one finally.</summary>
    [Fact]
    public async Task Stream_InnerDisposeThrowsAfterUsage_SettlesToTheActualCost()
    {
        var inner = new ThrowingOnDisposeClient(new CountingChatClient());
        var services = new ServiceCollection().AddLogging().AddMetrics().AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = 1m });
        using ServiceProvider provider = services.BuildServiceProvider();
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(provider);
        var store = (InMemoryDifyBudgetStore)provider.GetRequiredService<IDifyBudgetStore>();

        await Assert.ThrowsAsync<IOException>(async () =>
        {
            await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hello", new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId("app-1")))
            {
            }
        });

        string key = DifyBudgetCall.KeyOf("app-1", DifyBudgetPeriod.Month, DifyBudgetCall.Bounds(TimeProvider.System.GetUtcNow(), DifyBudgetPeriod.Month).Start);
        Assert.Equal(Actual, store.SpentOf(key)); // observed: 62,400 (the reservation, never settled)
    }

    private sealed class ThrowingOnDisposeClient(IChatClient inner) : DelegatingChatClient(inner)
    {
        public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
            IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            new Stream(base.GetStreamingResponseAsync(messages, options, cancellationToken));

        private sealed class Stream(IAsyncEnumerable<ChatResponseUpdate> inner) : IAsyncEnumerable<ChatResponseUpdate>
        {
            public IAsyncEnumerator<ChatResponseUpdate> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
                new Enumerator(inner.GetAsyncEnumerator(cancellationToken));
        }

        private sealed class Enumerator(IAsyncEnumerator<ChatResponseUpdate> inner) : IAsyncEnumerator<ChatResponseUpdate>
        {
            public ChatResponseUpdate Current => inner.Current;

            public ValueTask<bool> MoveNextAsync() => inner.MoveNextAsync();

            public async ValueTask DisposeAsync()
            {
                await inner.DisposeAsync();
                throw new IOException("the response stream failed to close");
            }
        }
    }
}
