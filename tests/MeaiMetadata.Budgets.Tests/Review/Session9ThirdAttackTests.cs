using System.Globalization;
using MeaiMetadata.Budgets.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Session 9, third attack, on 99e1c7d: pending costs kept per store key NAME with the key they were spent under
/// (<c>Pending</c>, <c>FlushPendingAsync</c>, <c>TakePending</c>, <c>KeepPending</c>). docs/budgets.md "When the store fails":
/// the pending cost is "added once by the next store operation of that app that succeeds (to the period it was spent in, also
/// when that period has ended, so the month beside an ended day still counts it)"; the code's own contract (FlushPendingAsync):
/// "Each amount is added to the keys it was spent under: ... a month's to the month and the day it was spent in". Each test
/// asserts a promise, so it FAILS where it is broken (the controls marked Held pass).</summary>
public sealed class Session9ThirdAttackTests
{
    private const string Model = "gpt-4o-mini";
    private const long Actual = (5 * 150) + (3 * 600); // 2,550 nano-dollars: CountingChatClient's default usage on gpt-4o-mini

    private static readonly DateTimeOffset March10 = new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero);

    private static ChatOptions Options(string app, int maxOutput = 100) => new ChatOptions { ModelId = Model, MaxOutputTokens = maxOutput }.WithDifyAppId(app);

    private static string Key(string app, string period) => "dify:budget:{" + app + "}:" + period;

    // ---- 1. a month's pending cost from an earlier day is flushed without claiming the month's alerts ----

    /// <summary>docs/budgets.md "Alerts": "Each AlertAt fraction crossed logs one Warning per app, period and fraction ... and
    /// calls Budgets.OnAlert". A MONTH budget (1,000,000 nano, AlertAt 0.5). March 10: the store is down, a request goes out
    /// unchecked and costs 600,750 nano; its settlement fails, so the cost is kept pending under (m202603, twin d20260310).
    /// March 11, the store is back: the app's next request flushes it (the month now holds 600,750: 60 % of its limit) and is
    /// refused (its 602,400 reservation does not fit). The month crossed 0.5, and no alert is ever raised: the flush of an
    /// entry whose key differs from the current one (a different twin day, the same month) goes through
    /// <c>Store.SettleAsync(kept.Key, amount, [])</c>, with NO thresholds, so nothing claims them; the same pending amount
    /// flushed the same day (the control below) goes through SettleInStoreAsync with the thresholds and alerts. As long as the
    /// app's requests are refused (a month near its limit: AlertAt 0.95 with less than one reservation left), no settlement
    /// comes to claim it: the alert that exists to warn before the refusals never comes.</summary>
    [Fact]
    public Task MonthBudget_PendingFromAnEarlierDay_CrossesAlertAt_TheAlertIsRaised() => AlertAsync(TimeSpan.FromDays(1));

    /// <summary>Held (the control of the test above): the same, the next request an hour later the same day (the same key): the
    /// pending cost is flushed with the thresholds and the 0.5 alert is raised before the refusal.</summary>
    [Fact]
    public Task MonthBudget_PendingFromEarlierTheSameDay_CrossesAlertAt_TheAlertIsRaised() => AlertAsync(TimeSpan.FromHours(1));

    private static async Task AlertAsync(TimeSpan later)
    {
        var time = new FakeTimeProvider(March10);
        var store = new OutageStore(time) { FailReserves = true, FailSettles = true };
        var alerts = new List<double>();
        var inner = new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 1000 } }; // 600,750 nano
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(o =>
            {
                o.Budgets.Default = new DifyBudget { LimitUsd = 0.001m, Period = DifyBudgetPeriod.Month };
                o.Budgets.AlertAt.Add(0.5);
                o.Budgets.OnAlert = a => alerts.Add(a.Threshold);
            })
            .BuildServiceProvider());
        await client.GetResponseAsync("hello", Options("alert-app")); // unchecked; settlement fails: 600,750 pending

        time.Advance(later);
        store.FailReserves = store.FailSettles = false;
        await Assert.ThrowsAsync<DifyBudgetExceededException>(() => client.GetResponseAsync("hello", Options("alert-app", 1000)));

        Assert.Equal(600_750, store.Inner.SpentOf(Key("alert-app", "m202603"))); // the month holds it: 60 % of the limit
        Assert.Equal([0.5], alerts); // observed (a day later): [] (no alert)
    }

    // ---- 2. an outage across midnight: a month's pending cost moves to the next day ----

    /// <summary>The code's contract (FlushPendingAsync): "a month's [amount is added] to the month and the day it was spent in";
    /// docs/budgets.md: "to the period it was spent in". A MONTH budget, the store down from March 10 into March 11: March 10's
    /// request (2,550 nano) is kept pending under (m202603, twin d20260310). March 11, still down: the flush of that entry
    /// fails and keeps it; the request goes out unchecked and its settlement TAKES the entry by NAME (TakePending ignores the
    /// key it was spent under) and, failing, keeps the sum under today's key (m202603, twin d20260311); KeepPending's merge also
    /// overwrites the key with the newest. When the store is back, all of it is added to March 11. March 10 is left without its
    /// spend, March 11 holds a cost made the day before.</summary>
    [Fact]
    public async Task MonthBudget_OutageAcrossMidnight_EachCostIsAddedToTheDayItWasSpentIn()
    {
        var time = new FakeTimeProvider(March10);
        var store = new OutageStore(time) { FailReserves = true, FailSettles = true };
        var inner = new CountingChatClient();
        using IChatClient client = Build(store, time, DifyBudgetPeriod.Month, inner);
        await client.GetResponseAsync("hello", Options("night-app")); // March 10: unchecked, kept pending

        time.Advance(TimeSpan.FromDays(1)); // March 11, 12:00: the store is still down
        await client.GetResponseAsync("hello", Options("night-app")); // unchecked, kept pending

        store.FailReserves = store.FailSettles = false; // back
        await client.GetResponseAsync("hello", Options("night-app"));

        Assert.Equal(3 * Actual, store.Inner.SpentOf(Key("night-app", "m202603"))); // held: the month has all three
        Assert.Equal(2 * Actual, store.Inner.SpentOf(Key("night-app", "d20260311"))); // observed: 3 * Actual (7,650)
        Assert.Equal(Actual, store.Inner.SpentOf(Key("night-app", "d20260310"))); // observed: 0
    }

    /// <summary>The consequence in the budget's own terms (docs/budgets.md: "a Period changed on a reload finds the spend already
    /// made"): the same outage across midnight on a MONTH budget, with yesterday's request an expensive one (600,750 nano);
    /// after it the Period is reloaded to Day with a limit of 100,000 nano. Today's spend is one request (2,550): a 62,400
    /// reservation fits. The day holds yesterday's 600,750 too, and the request is refused.</summary>
    [Fact]
    public async Task MonthBudget_OutageAcrossMidnight_ThenReloadedToDay_TodaysRequestThatFitsIsSent()
    {
        var time = new FakeTimeProvider(March10);
        var store = new OutageStore(time) { FailReserves = true, FailSettles = true };
        var inner = new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 1000 } };
        var configuration = (IConfigurationRoot)new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Budgets:Default:LimitUsd"] = "1",
            ["Budgets:Default:Period"] = "Month",
        }).Build();
        using ServiceProvider services = new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(configuration)
            .BuildServiceProvider();
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(services);
        await client.GetResponseAsync("hello", Options("reload-app")); // March 10: 600,750, kept pending

        time.Advance(TimeSpan.FromDays(1)); // March 11: still down
        inner.Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 3 };
        await client.GetResponseAsync("hello", Options("reload-app")); // 2,550, kept pending with yesterday's

        store.FailReserves = store.FailSettles = false;
        configuration["Budgets:Default:LimitUsd"] = (100_000 / 1_000_000_000m).ToString(CultureInfo.InvariantCulture);
        configuration["Budgets:Default:Period"] = "Day";
        configuration.Reload();

        await client.GetResponseAsync("hello", Options("reload-app")); // observed: DifyBudgetExceededException
        Assert.Equal(3, inner.Calls);
    }

    // ---- 3. a flush cancelled part-way re-keeps its entry under the OLD key, over a newer cost of today ----

    /// <summary>docs/budgets.md: "added ... to the period it was spent in"; "a Period changed on a reload finds the spend already
    /// made"; the guarantee: "a request that does not fit is refused before anything is sent". A MONTH budget, the store down
    /// across midnight (Allow, the default). March 11: request R1's reservation flushes March 10's entry (m202603, twin
    /// d20260310); the store is slow and the caller cancels R1 (an aborted HTTP request). Meanwhile R2 goes out unchecked
    /// (90,750 nano, today) and its failed settlement keeps (m202603, twin d20260311). R1's flush then fails and KeepPending
    /// puts March 10's amount back: the merge keeps the key of the LAST writer, so today's 90,750 is now filed under
    /// March 10. The store is back and the Period is reloaded to Day (100,000 nano): today has spent 90,750, so a 62,400
    /// reservation must be refused. The day finds nothing of today's spend (the flush adds it to March 10) and sends it.</summary>
    [Fact]
    public async Task MonthBudget_FlushCancelledWhileANewerCostIsKept_ThenReloadedToDay_TheRequestThatDoesNotFitIsRefused()
    {
        var time = new FakeTimeProvider(March10);
        var store = new OutageStore(time) { FailReserves = true, FailSettles = true };
        var inner = new CountingChatClient();
        var configuration = (IConfigurationRoot)new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Budgets:Default:LimitUsd"] = "1",
            ["Budgets:Default:Period"] = "Month",
        }).Build();
        using ServiceProvider services = new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(configuration)
            .BuildServiceProvider();
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(services);
        await client.GetResponseAsync("hello", Options("race-app")); // March 10: 2,550 kept pending

        time.Advance(TimeSpan.FromDays(1)); // March 11, the store still down and slow for March 10's entry
        store.HoldTwin = Key("race-app", "d20260310");
        using var cts = new CancellationTokenSource();
        Task r1 = client.GetResponseAsync("hello", Options("race-app"), cts.Token);
        await store.Held.Task.WaitAsync(TimeSpan.FromSeconds(10)); // R1 took March 10's entry out and waits on the store

        inner.Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 150 }; // 90,750
        Task r2 = client.GetResponseAsync("hello", Options("race-app")); // R2 waits for R1's flush (none is checked without it)
        await cts.CancelAsync();
        _ = await Record.ExceptionAsync(() => r1); // cancelled, sends nothing; March 10's entry is pending again
        await r2; // adds it itself (the store is down: unchecked), and its own settlement fails: kept under today

        store.HoldTwin = null;
        store.FailReserves = store.FailSettles = false;
        configuration["Budgets:Default:LimitUsd"] = (100_000 / 1_000_000_000m).ToString(CultureInfo.InvariantCulture);
        configuration["Budgets:Default:Period"] = "Day";
        configuration.Reload();
        inner.Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 3 };

        Exception? refused = await Record.ExceptionAsync(() => client.GetResponseAsync("hello", Options("race-app")));

        Assert.Equal(90_750, store.Inner.SpentOf(Key("race-app", "d20260311")) - (refused is null ? Actual : 0)); // observed: 0
        Assert.IsType<DifyBudgetExceededException>(refused); // observed: sent (90,750 + 62,400 > 100,000)
    }

    // ---- 4. a tool loop whose session ends before its first request is built: recorded for nobody, charged to the app ----

    /// <summary>Reported: a tool loop decided for an app whose session ends before its first request is built goes out
    /// untagged and is recorded no_session, but the app's budget is charged the loop's usage. Documented (docs/budgets.md):
    /// a budget counts what a call decided for its app costs, whatever its session does afterwards; spend is never left
    /// out of a budget. Pinned so that a change is a decision.</summary>
    [Fact]
    public async Task ToolLoop_SessionEndsBeforeTheFirstBuild_RecordedNoSession_TheAppsBudgetIsCharged_AsDocumented()
    {
        using ServiceProvider metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = metrics.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var requests = new MetricCollector<long>(meters, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);
        using var tokens = new MetricCollector<long>(meters, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.TokenUsageCounter);
        var time = new FakeTimeProvider(March10);
        var store = new OutageStore(time) { HoldReserves = true };
        var inner = new CountingChatClient();
        int answered = 0;
        inner.Answer = (messages, options) =>
        {
            _ = options?.RawRepresentationFactory?.Invoke(inner); // as OpenAI's clients do: the request is built here
            return Interlocked.Increment(ref answered) == 1
                ? new ChatResponse(new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("c1", "get_weather")])) { Usage = inner.Usage }
                : new ChatResponse(new ChatMessage(ChatRole.Assistant, "sunny")) { Usage = inner.Usage };
        };
        using IChatClient client = new ChatClientBuilder(inner)
            .Use((i, sp) => new DifyMetadataChatClient(i, new DifyMetadataOptions { Budgets = { Default = new DifyBudget { LimitUsd = 1m, Period = DifyBudgetPeriod.Month } } }, null, meters)
            {
                Budgets = new DifyBudgetEnforcer(store, time, meters),
            })
            .UseFunctionInvocation()
            .Build();
        var tool = AIFunctionFactory.Create(() => "sunny", "get_weather");

        Task<ChatResponse> call;
        using (DifySession.Begin("ended-app"))
        {
            call = client.GetResponseAsync("weather?", new ChatOptions { ModelId = Model, MaxOutputTokens = 100, Tools = [tool] });
            await store.Held.Task.WaitAsync(TimeSpan.FromSeconds(10)); // the reservation waits on the store
        } // the session ends before any request is built

        store.Release.SetResult();
        await call;

        Assert.Equal(2, inner.Calls);
        Assert.Equal(["no_session"], requests.GetMeasurementSnapshot().Select(m => (string?)m.Tags[DifyMetadataTelemetry.OutcomeTag])); // held
        Assert.DoesNotContain(tokens.GetMeasurementSnapshot(), m => (string?)m.Tags[DifyMetadataTelemetry.AppIdTag] == "ended-app"); // held
        Assert.Equal(2 * Actual, store.Inner.SpentOf(Key("ended-app", "m202603"))); // the loop's usage
    }

    private static IChatClient Build(OutageStore store, TimeProvider time, DifyBudgetPeriod period, IChatClient inner) =>
        new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton(time)
            .AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = 1m, Period = period })
            .BuildServiceProvider());

    /// <summary>The in-memory store behind switchable failures; the next settlement of a key whose twin is <see cref="HoldTwin"/>
    /// waits until it is cancelled (a slow store), then fails.</summary>
    private sealed class OutageStore(TimeProvider time) : IDifyBudgetStore
    {
        public InMemoryDifyBudgetStore Inner { get; } = new(time);

        public volatile bool FailReserves;
        public volatile bool FailSettles;
        public volatile string? HoldTwin;
        public volatile bool HoldReserves;

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken)
        {
            if (HoldReserves)
            {
                Held.TrySetResult();
                await Release.Task;
            }

            return FailReserves ? throw new TimeoutException("store down") : await Inner.ReserveAsync(key, amount, limit, cancellationToken);
        }

        public async ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken)
        {
            if (HoldTwin is { } twin && key.Twin == twin)
            {
                HoldTwin = null; // once: the next caller's flush of the same entry is not held
                Held.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return FailSettles ? throw new TimeoutException("store down") : await Inner.SettleAsync(key, delta, alertAt, cancellationToken);
        }
    }
}
