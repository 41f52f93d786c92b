using MeaiMetadata.Budgets.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Second attack on the session-10 fix (per-clock in-memory store, Redis TTL, alerts per fraction, pending alerts
/// after the period). Each test asserts a documented promise, so it FAILS where the promise is broken; a hang fails by a
/// timeout inside the test.</summary>
public sealed class Session10SecondAttackTests
{
    private const string Model = "gpt-4o-mini";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly DateTimeOffset March10 = new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero);

    private static ChatOptions Options(string app, int maxOutput = 100) => new ChatOptions { ModelId = Model, MaxOutputTokens = maxOutput }.WithDifyAppId(app);

    // ---- 1. the per-clock store splits the process's budget: TimeProvider.System in DI vs no DI ----

    /// <summary>docs/budgets.md "Configure": "Nothing else to register: AddDifyMetadata and UseDifyMetadata() enforce them with
    /// an in-memory store (one process)"; "(no DI here: the layer keeps the budgets in the process's in-memory store)"; the
    /// store's own summary: "one per process without one [a provider with AddDifyMetadata]". Since the fix,
    /// <c>DifyBudgetEnforcer.From</c> gives services that hold a TimeProvider (here the ordinary
    /// <c>AddSingleton(TimeProvider.System)</c> most hosts' code adds) a store of that clock, while a pipeline built without
    /// services keeps <c>InMemoryDifyBudgetStore.Shared</c>: two in-memory stores in one process, both on the system clock.
    /// The same app through the two pipelines has two budgets. Expected: a budget worth one request refuses the second
    /// (one process, one store; before the fix both used Shared). Observed: both are sent (2 x the limit).</summary>
    [Fact]
    public async Task SystemClockInServices_AndAPipelineWithoutServices_ShareTheProcessBudget()
    {
        var inner = new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 16, OutputTokenCount = 100 } }; // = the reservation
        static void Budget(DifyMetadataOptions o) => o.Budgets.Default = new DifyBudget { LimitUsd = 0.0001m, Period = DifyBudgetPeriod.Month }; // one request
        using IChatClient plain = new ChatClientBuilder(inner).UseDifyMetadata(Budget).Build();
        using IChatClient hosted = new ChatClientBuilder(inner).UseDifyMetadata(Budget)
            .Build(new ServiceCollection().AddSingleton(TimeProvider.System).BuildServiceProvider());
        string app = "s10b-system-clock-" + Guid.NewGuid().ToString("N");

        await plain.GetResponseAsync("hello", Options(app)).WaitAsync(Timeout); // fits: the whole budget
        Exception? refused = await Record.ExceptionAsync(() => hosted.GetResponseAsync("hello", Options(app)).WaitAsync(Timeout));

        Assert.IsType<DifyBudgetExceededException>(refused); // observed: null (sent; the app spent 2 x its limit)
        Assert.Equal(1, inner.Calls);
    }

    // ---- 2. a pending cost added more than a day after its period ended: that period's alert is never raised ----

    /// <summary>docs/budgets.md "Alerts" (new): "A pending cost added after its period ended raises that period's alerts, with
    /// its reset time"; "When the store fails": added "to the keys it was spent under (its day and its month, also when that
    /// day has ended), with the alerts it crosses". A DAY budget of 1,000,000 nano, AlertAt 0.5. March 10: a request costs
    /// 400,350 (settled); then the store is down, a request is sent unchecked and costs 300,750, its settlement fails: pending.
    /// March 10 has spent 701,100 (70 %). The app's next request comes on March 12, 01:00 (a quiet app): the in-memory store
    /// has expired March 10's key ("a day after it ends"), so the pending cost is added to 0 and compared with 500,000 alone.
    /// Found: no alert, ever. Documented since (docs/budgets.md "Alerts": "while the store keeps the period (a day after it
    /// ends); later it only counts in the period beside it"), and pinned: no alert, and the month holds the pending cost.</summary>
    [Fact]
    public async Task DayBudget_PendingAddedMoreThanADayAfterItsDay_RaisesNoAlert_CountsInItsMonth_AsDocumented()
    {
        var time = new FakeTimeProvider(March10);
        var store = new OutageStore(time);
        var inner = new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 666 } }; // 400,350
        var alerts = new List<(double Threshold, DateTimeOffset ResetsAt)>();
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(o =>
            {
                o.Budgets.Default = new DifyBudget { LimitUsd = 0.001m, Period = DifyBudgetPeriod.Day };
                o.Budgets.AlertAt.Add(0.5);
                o.Budgets.OnAlert = a => { lock (alerts) { alerts.Add((a.Threshold, a.ResetsAt)); } };
            })
            .BuildServiceProvider());
        const string app = "s10b-day-alert-late";

        await client.GetResponseAsync("hello", Options(app, 1000)).WaitAsync(Timeout); // 400,350 settled: 40 %
        Assert.Equal(400_350, store.Inner.SpentOf("dify:budget:{" + app + "}:d20260310"));

        store.Fail = true;
        inner.Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 500 }; // 300,750
        await client.GetResponseAsync("hello", Options(app, 1000)).WaitAsync(Timeout); // unchecked; settlement fails: pending
        store.Fail = false;

        time.SetUtcNow(new DateTimeOffset(2026, 3, 12, 1, 0, 0, TimeSpan.Zero));
        inner.Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 3 };
        await client.GetResponseAsync("hello", Options(app)).WaitAsync(Timeout); // adds the pending cost to March 10

        Assert.Empty(alerts); // March 10 is gone from the store: the pending cost alone is compared with the threshold
        Assert.InRange(store.Inner.SpentOf("dify:budget:{" + app + "}:m202603"), 400_350 + 300_750, 400_350 + 300_750 + 100_000); // in its month, with the last request's few tokens
    }

    // ---- 3. one alert per fraction: 0.3 and 0.1 + 0.2 are claimed apart ----

    /// <summary>docs/budgets.md "Alerts": "Each AlertAt fraction crossed logs one Warning per app, period and fraction across
    /// all instances sharing the store (claimed in the store, also while instances run with different limits)". The marker
    /// is named by <c>Fraction.ToString("R")</c>: an instance configured with 0.3 claims <c>:alert:0.3</c>, one whose fraction
    /// was computed (0.1 + 0.2, 3 * 0.1, a percentage / 100 in code) claims <c>:alert:0.30000000000000004</c>. Both are "30 %"
    /// and are reached at the same spend (300,000 vs 300,001 nano). Expected: one 30 % alert for the day on the shared store.
    /// Observed: two (one per instance). Low severity: the fractions differ in their last bit.</summary>
    [Fact]
    public async Task AlertAt_SameFractionWrittenTwoWays_TwoInstancesOnOneStore_RaisedOnce()
    {
        var time = new FakeTimeProvider(March10);
        var store = new InMemoryDifyBudgetStore(time);
        var alerts = new List<double>();
        IChatClient Instance(double fraction) => new ChatClientBuilder(new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 600 } }) // 360,750
            .UseDifyMetadata().Build(new ServiceCollection()
                .AddSingleton<IDifyBudgetStore>(store)
                .AddSingleton<TimeProvider>(time)
                .AddDifyMetadata(o =>
                {
                    o.Budgets.Default = new DifyBudget { LimitUsd = 0.001m, Period = DifyBudgetPeriod.Day };
                    o.Budgets.AlertAt.Add(fraction);
                    o.Budgets.OnAlert = a => { lock (alerts) { alerts.Add(a.Threshold); } };
                })
                .BuildServiceProvider());
        double computed = 0.1 + 0.2;
        using IChatClient a = Instance(0.3);
        using IChatClient b = Instance(computed);
        const string app = "s10b-fraction-bits";

        await a.GetResponseAsync("hello", Options(app, 600)).WaitAsync(Timeout); // 360,750 of 1,000,000: 30 % crossed
        await b.GetResponseAsync("hello", Options(app, 600)).WaitAsync(Timeout); // 721,500: 30 % again

        Assert.Single(alerts); // observed: [0.3, 0.30000000000000004]
    }
}
