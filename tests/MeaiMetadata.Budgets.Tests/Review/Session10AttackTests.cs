using MeaiMetadata.Budgets.Tests.Redis;
using MeaiMetadata.Budgets.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Session 10 attack on the budgets (pending costs, alerts, clocks). Each test asserts a documented promise, so it
/// FAILS where the promise is broken; a hang fails by a timeout inside the test.</summary>
public sealed class Session10AttackTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private const string Model = "gpt-4o-mini";

    // "hello" from the user: 16 input tokens, 100 output tokens reserved; gpt-4o-mini 0.15 / 0.6 per million.
    private const long Reservation = (16 * 150) + (100 * 600); // nano-dollars: 62,400

    private static readonly DateTimeOffset March10 = new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero);

    private static ChatOptions Options(string app, int maxOutput = 100) => new ChatOptions { ModelId = Model, MaxOutputTokens = maxOutput }.WithDifyAppId(app);

    // ---- 1. a TimeProvider in DI without AddDifyMetadata: the budget is never enforced ----

    /// <summary>docs/budgets.md "Configure": "Nothing else to register: AddDifyMetadata and UseDifyMetadata() enforce them with
    /// an in-memory store" and "Time comes from the TimeProvider in DI (FakeTimeProvider in tests)". A pipeline built with
    /// <c>UseDifyMetadata(o =&gt; budgets)</c> over services that hold only a <see cref="FakeTimeProvider"/> (no
    /// AddDifyMetadata) gets <c>DifyBudgetEnforcer.From</c>: the fake clock for its keys, but
    /// <c>InMemoryDifyBudgetStore.Shared</c>, whose entries expire by the SYSTEM clock. Keys of a period that the system
    /// clock has left behind (any fake date in the past) read as 0 at once, so every request fits.
    /// Expected: a budget worth one request refuses the second ("a request that does not fit is refused before anything is
    /// sent"). Observed: every request is sent; the app spends 10 x its limit.</summary>
    [Fact]
    public async Task FakeClockInServices_WithoutAddDifyMetadata_TheBudgetIsEnforced()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2020, 3, 10, 12, 0, 0, TimeSpan.Zero));
        var inner = new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 16, OutputTokenCount = 100 } }; // = the reservation
        using IChatClient client = new ChatClientBuilder(inner)
            .UseDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = 0.0001m, Period = DifyBudgetPeriod.Month }) // 100,000 nano: one request
            .Build(new ServiceCollection().AddSingleton<TimeProvider>(time).BuildServiceProvider());
        string app = "s10-fake-clock-" + Guid.NewGuid().ToString("N");

        int refused = 0;
        for (int i = 0; i < 10; i++)
        {
            try
            {
                await client.GetResponseAsync("hello", Options(app));
            }
            catch (DifyBudgetExceededException)
            {
                refused++;
            }
        }

        Assert.Equal(1, inner.Calls); // observed: 10 (nothing refused)
        Assert.Equal(9, refused);
    }

    // ---- 2. a DAY budget's pending cost, added the next day, crosses that day's AlertAt: no alert, ever ----

    /// <summary>docs/budgets.md "When the store fails": the pending cost is "added once by the app's next reservation that
    /// reaches the store, to the keys it was spent under (its day and its month, also when that day has ended), with the
    /// alerts it crosses"; "Alerts": "Each AlertAt fraction crossed logs one Warning per app, period and fraction". A DAY
    /// budget of 1,000,000 nano, AlertAt 0.5. March 10, 23:00: the store is down, a request goes out unchecked and costs
    /// 615,000 (61.5 % of March 10); its settlement fails, so the cost is pending. March 11, 01:00: the store is back, the next
    /// request adds it to March 10 (asserted below). Expected: March 10's 0.5 alert (the day crossed it). Observed: none, ever
    /// (<c>AddPendingAsync</c> passes no thresholds for a key that is not the current period's).</summary>
    [Fact]
    public async Task DayBudget_PendingAddedTheNextDay_CrossesThatDaysAlertAt_TheAlertIsRaised()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 23, 0, 0, TimeSpan.Zero));
        var store = new OutageStore(time);
        var inner = new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 100, OutputTokenCount = 1000 } }; // 615,000
        var alerts = new List<double>();
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(o =>
            {
                o.Budgets.Default = new DifyBudget { LimitUsd = 0.001m, Period = DifyBudgetPeriod.Day };
                o.Budgets.AlertAt.Add(0.5);
                o.Budgets.OnAlert = a => { lock (alerts) { alerts.Add(a.Threshold); } };
            })
            .BuildServiceProvider());
        const string app = "s10-day-alert";

        store.Fail = true;
        await client.GetResponseAsync("hello", Options(app, 1000)); // unchecked; settlement fails: 615,000 pending
        store.Fail = false;

        time.Advance(TimeSpan.FromHours(2)); // March 11, 01:00
        inner.Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 3 };
        await client.GetResponseAsync("hello", Options(app)); // adds the pending cost to March 10

        Assert.Equal(615_000, store.Inner.SpentOf("dify:budget:{" + app + "}:d20260310")); // held: March 10 holds it, 61.5 %
        Assert.Equal([0.5], alerts); // observed: [] (no alert for the day that crossed 0.5)
    }

    // ---- 3. the same on the shared store: Garnet with the documented FakeTimeProvider ----

    /// <summary>docs/budgets.md "Configure": "Time comes from the TimeProvider in DI (FakeTimeProvider in tests)"; the
    /// guarantee holds "across every instance that shares the store". The documented set-up (AddDifyMetadata +
    /// AddDifyBudgetRedisStore on the embedded Garnet + a FakeTimeProvider set to March 10, 2026, the date the repository's own
    /// budget tests use) writes each key with <c>EXPIREAT</c> of the fake period's end + 1 day, in unix seconds of the FAKE
    /// clock; the server expires by its own clock, so a key whose fake expiry is in the server's past is deleted by the very
    /// script that wrote it, and every reservation finds 0. Expected: a budget worth one request refuses the second.
    /// Observed: all 10 are sent.</summary>
    [Fact]
    public async Task Garnet_WithTheDocumentedFakeClock_TheBudgetIsEnforced()
    {
        var time = new FakeTimeProvider(March10);
        var inner = new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 16, OutputTokenCount = 100 } }; // = the reservation
        await using ServiceProvider services = new ServiceCollection()
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = 0.0001m, Period = DifyBudgetPeriod.Month }) // one request
            .AddDifyBudgetRedisStore(garnet.Configuration)
            .BuildServiceProvider();
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(services);
        string app = "s10-garnet-clock-" + Guid.NewGuid().ToString("N")[..8];

        int refused = 0;
        for (int i = 0; i < 10; i++)
        {
            try
            {
                await client.GetResponseAsync("hello", Options(app));
            }
            catch (DifyBudgetExceededException)
            {
                refused++;
            }
        }

        Assert.Equal(1, inner.Calls); // observed: 10
        Assert.Equal(9, refused);
    }

    // ---- 4. one alert per app, period and fraction across instances: twice when the limit differs ----

    /// <summary>docs/budgets.md "Alerts": "Each AlertAt fraction crossed logs one Warning per app, period and fraction across
    /// all instances sharing the store (claimed in the store)". The claim's marker is named by the threshold in nano-dollars
    /// (<c>key:alert:500000</c>), not by the fraction, so the same fraction claimed under another limit is a new marker. Two
    /// instances on one store during a change of the app's limit (a rolling deploy, or a reload of one of them): 0.001 USD
    /// and 0.002 USD. Expected: one 0.5 alert for the month. Observed: two (at 600,750 nano of 0.001, then at 1,201,500 of
    /// 0.002), each with its Warning and OnAlert call.</summary>
    [Fact]
    public async Task AlertAt_SameFractionSamePeriod_TwoInstancesWithDifferentLimits_RaisedOnce()
    {
        var time = new FakeTimeProvider(March10);
        var store = new InMemoryDifyBudgetStore(time);
        var alerts = new List<(decimal Limit, double Threshold)>();
        IChatClient Instance(decimal limit) => new ChatClientBuilder(new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 1000 } }) // 600,750
            .UseDifyMetadata().Build(new ServiceCollection()
                .AddSingleton<IDifyBudgetStore>(store)
                .AddSingleton<TimeProvider>(time)
                .AddDifyMetadata(o =>
                {
                    o.Budgets.Default = new DifyBudget { LimitUsd = limit, Period = DifyBudgetPeriod.Month };
                    o.Budgets.AlertAt.Add(0.5);
                    o.Budgets.OnAlert = a => { lock (alerts) { alerts.Add((a.LimitUsd, a.Threshold)); } };
                })
                .BuildServiceProvider());
        using IChatClient before = Instance(0.001m);
        using IChatClient after = Instance(0.002m);
        const string app = "s10-alert-twice";

        await before.GetResponseAsync("hello", Options(app, 1000)); // 600,750 of 1,000,000: 0.5 crossed, alerted
        await after.GetResponseAsync("hello", Options(app, 1000));  // 1,201,500 of 2,000,000: 0.5 again

        Assert.Single(alerts); // observed: [(0.001, 0.5), (0.002, 0.5)]
    }
}
