using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Session 9, sixth attack: pending costs (<c>FlushPendingAsync</c>, <c>TakePending</c>, <c>KeepPending</c>).
/// docs/budgets.md "When the store fails": "the app's reservations wait while one adds it, so none is checked without it";
/// "with the alerts it crosses"; "Alerts": each fraction crossed alerts once. Each test FAILS where the promise is broken.</summary>
public sealed class Session9SixthAttackTests
{
    private const string Model = "gpt-4o-mini";

    private static readonly DateTimeOffset March10 = new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero);

    private static ChatOptions Options(string app, int maxOutput = 100) => new ChatOptions { ModelId = Model, MaxOutputTokens = maxOutput }.WithDifyAppId(app);

    private static string Key(string app) => "dify:budget:{" + app + "}:m202603";

    // Reported first: a settlement took the app's pending cost and added it outside the shared add, so a reservation made
    // meanwhile was checked without it (a month ended 38 % over its limit). Fixed by the design: settlements no longer add
    // pending costs; only the shared add before a reservation does. The repro's premise (a settlement carrying the pending
    // cost) no longer exists, so it was removed; PendingSettlementTests and the fourth and fifth attacks' tests cover the add.

    /// <summary>Reported: the add of a pending cost reaches the store (which claims the 0.5 alert) and its answer is lost; the
    /// cost is added again (counted twice) but the alert, claimed, is never raised. Documented (docs/budgets.md "When the
    /// store fails"): an alert the store claimed in an answer that was lost is not raised. Pinned so that a change is a
    /// decision.</summary>
    [Fact]
    public async Task FlushAppliedButAnswerLost_TheAlertItClaimedIsNotRaised_AsDocumented()
    {
        var time = new FakeTimeProvider(March10);
        var store = new SixthStore(time);
        var inner = new SixthChatClient();
        var alerts = new List<double>();
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(o =>
            {
                o.Budgets.Default = new DifyBudget { LimitUsd = 0.01m, Period = DifyBudgetPeriod.Month };
                o.Budgets.AlertAt.Add(0.5);
                o.Budgets.OnAlert = a => { lock (alerts) { alerts.Add(a.Threshold); } };
            })
            .BuildServiceProvider());
        const string app = "lost-alert-app";

        store.Fail = true;
        inner.NextUsage = new UsageDetails { InputTokenCount = 100, OutputTokenCount = 9_000 }; // 5,415,000: 54 %
        await client.GetResponseAsync("hello", Options(app)); // unchecked; settlement fails: pending
        store.Fail = false;

        store.ApplyThenFailNextSettle = true; // the flush reaches the store, its reply does not
        await client.GetResponseAsync("hello", Options(app)); // unchecked (flush failed), its settlement re-adds the pending cost

        Assert.True(store.Inner.SpentOf(Key(app)) >= 5_000_000); // held: the month crossed 0.5 (counted twice, as documented)
        Assert.Empty(alerts); // the claim was applied with the lost answer
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        DateTime until = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "timed out");
            await Task.Delay(10);
        }
    }

    private sealed class SixthStore(TimeProvider time) : IDifyBudgetStore
    {
        public InMemoryDifyBudgetStore Inner { get; } = new(time);

        public volatile bool Fail;
        public volatile bool ApplyThenFailNextSettle;

        public async ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken) =>
            Fail ? throw new TimeoutException("store down") : await Inner.ReserveAsync(key, amount, limit, cancellationToken);

        public async ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken)
        {
            if (Fail)
            {
                throw new TimeoutException("store down");
            }

            DifyBudgetSettleResult result = await Inner.SettleAsync(key, delta, alertAt, cancellationToken);
            if (ApplyThenFailNextSettle)
            {
                ApplyThenFailNextSettle = false;
                throw new TimeoutException("reply lost");
            }

            return result;
        }
    }

    private sealed class SixthChatClient : IChatClient
    {
        public volatile UsageDetails? NextUsage;

        public Task? OneTokenRequestsWait { get; set; }

        public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (options?.MaxOutputTokens == 1 && OneTokenRequestsWait is { } wait)
            {
                await wait;
            }

            UsageDetails usage = Interlocked.Exchange(ref NextUsage, null) ?? new UsageDetails { InputTokenCount = 5, OutputTokenCount = 3 };
            return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")) { Usage = usage, ModelId = options?.ModelId };
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}
