using MeaiMetadata.Budgets.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Session 9, second attack, on 257a7d5 / bc84907: "a cost kept pending after a failed settlement is added to the
/// period it was spent in at the app's next store operation that succeeds, also when that period has ended"
/// (docs/budgets.md "When the store fails", docs/operations.md log 406). The pending map is keyed by the whole
/// <c>DifyBudgetKey</c> (name, expiry, twin, twin expiry), the flush looks for other NAMES only. Each test asserts the promise,
/// so it FAILS where it is broken.</summary>
public sealed class Session9SecondAttackTests
{
    private const string Model = "gpt-4o-mini";
    private const long Actual = (5 * 150) + (3 * 600); // 2,550 nano-dollars: CountingChatClient's default usage on gpt-4o-mini

    private static ChatOptions Options(string app) => new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app);

    private static IChatClient Build(OutageStore store, TimeProvider time, DifyBudgetPeriod period, IChatClient inner) =>
        new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton(time)
            .AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = 1m, Period = period })
            .BuildServiceProvider());

    /// <summary>A MONTH budget. On March 10 the store is down: the request goes out unchecked and its settlement fails, so its
    /// cost is kept pending under the key (m202603, twin d20260310). On March 11 the store is back and the app's next request
    /// reserves and settles fine: the month should now hold both costs. It holds one: the new call's key is (m202603, twin
    /// d20260311), a different DifyBudgetKey with the SAME name, so TakePending (whole-key equality) does not find it and
    /// FlushPendingAsync skips it (it flushes other names only). The cost stays out of the month's spend for the rest of the
    /// month (every day has its own twin), the month's limit is checked without it, and it is added only in April, to March.
    /// The same for every month budget whose settlement fails: the under-count lasts until the month is over.</summary>
    [Fact]
    public async Task MonthBudget_PendingFromAnEarlierDayOfTheMonth_IsAddedAtTheAppsNextSuccessfulOperation()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        var store = new OutageStore(time) { FailReserves = true, FailSettles = true };
        var inner = new CountingChatClient();
        using IChatClient client = Build(store, time, DifyBudgetPeriod.Month, inner);
        await client.GetResponseAsync("hello", Options("month-app")); // unchecked; its settlement fails: Actual pending

        time.Advance(TimeSpan.FromDays(1)); // 2026-03-11, same month
        store.FailReserves = store.FailSettles = false;
        await client.GetResponseAsync("hello", Options("month-app"));
        await client.GetResponseAsync("hello", Options("month-app"));

        Assert.Equal(3, inner.Calls);
        Assert.Equal(3 * Actual, store.Inner.SpentOf("dify:budget:{month-app}:m202603")); // observed: 2 * Actual (5,100)
        Assert.Equal(Actual, store.Inner.SpentOf("dify:budget:{month-app}:d20260310")); // the day it was spent in; observed: 0
    }

    /// <summary>The consequence, in the budget's own terms (docs/budgets.md: "a budget never under-counts" beyond what is
    /// lost with the process): a month budget of 0.0001 USD (100,000 nano) whose first request's settlement failed and was
    /// kept pending (an expensive answer, 90,000 nano) lets the app spend a further full limit the next day, in the same month
    /// and in the same process, because the pending cost is never added while the month lasts.</summary>
    [Fact]
    public Task MonthBudget_PendingCostIsCountedAgainstTheLimit_TheNextDayOfTheSameMonth() => TightMonthAsync(TimeSpan.FromDays(1));

    /// <summary>Held (the control of the test above): the same, the next request an hour later on the SAME day (same twin,
    /// so the same DifyBudgetKey): the pending cost is flushed first and the request is refused.</summary>
    [Fact]
    public Task MonthBudget_PendingCostIsCountedAgainstTheLimit_LaterTheSameDay() => TightMonthAsync(TimeSpan.FromHours(1));

    private static async Task TightMonthAsync(TimeSpan later)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        var store = new OutageStore(time) { FailReserves = true, FailSettles = true };
        // 100 output tokens reserved (60,000 nano + input); the first answer used 150 (90,000 nano + input): dearer than reserved
        var inner = new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 150 } };
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = 0.0001m, Period = DifyBudgetPeriod.Month })
            .BuildServiceProvider());
        await client.GetResponseAsync("hello", Options("tight-app")); // unchecked; settlement fails: 90,750 nano pending

        time.Advance(later);
        store.FailReserves = store.FailSettles = false;
        inner.Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 3 };

        // 90,750 already spent this month: a reservation of about 62,400 no longer fits a 100,000 limit.
        await Assert.ThrowsAsync<DifyBudgetExceededException>(() => client.GetResponseAsync("hello", Options("tight-app"))); // observed: sent
    }

    /// <summary>The in-memory store behind switchable failures.</summary>
    private sealed class OutageStore(TimeProvider time) : IDifyBudgetStore
    {
        public InMemoryDifyBudgetStore Inner { get; } = new(time);

        public volatile bool FailReserves;
        public volatile bool FailSettles;

        public ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken) =>
            FailReserves ? throw new TimeoutException("store down") : Inner.ReserveAsync(key, amount, limit, cancellationToken);

        public ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken) =>
            FailSettles ? throw new TimeoutException("store down") : Inner.SettleAsync(key, delta, alertAt, cancellationToken);
    }
}
