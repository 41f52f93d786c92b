using System.Globalization;
using MeaiMetadata.Budgets.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Session 9, fourth attack, on 30d8085: pending budget costs kept per full store key (<c>Pending</c>,
/// <c>FlushPendingAsync</c>, <c>TakePending</c>, <c>KeepPending</c>, <c>SettleInStoreAsync</c>). docs/budgets.md "When the
/// store fails": a failed settlement "keeps the cost the store may not hold ... pending in the process, added once by the
/// app's next store operation that succeeds, to the keys it was spent under (its day and its month, also when that day has
/// ended), with the alerts it crosses". Each test asserts a promise, so it FAILS where it is broken.</summary>
public sealed class Session9FourthAttackTests
{
    private const string Model = "gpt-4o-mini";
    private const long Actual = (5 * 150) + (3 * 600); // 2,550 nano-dollars: CountingChatClient's default usage on gpt-4o-mini

    private static readonly DateTimeOffset March10 = new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero);

    private static ChatOptions Options(string app, int maxOutput = 100) => new ChatOptions { ModelId = Model, MaxOutputTokens = maxOutput }.WithDifyAppId(app);

    private static string Key(string app, string period) => "dify:budget:{" + app + "}:" + period;

    // ---- 1. a flush in flight hides the pending cost from a concurrent reservation of the same app ----

    /// <summary>docs/budgets.md: the pending cost is "added once by the app's next store operation that succeeds"; "What one
    /// request does" 2: "If it does not fit what is left, nothing is sent". A MONTH budget of 100,000 nano. The store fails:
    /// a request goes out unchecked and costs 90,750; its settlement fails, so 90,750 is pending. The store is back (a bit
    /// slow). R1's reservation takes the entry out of <c>Pending</c> (TryRemove) and waits on the store to add it. R2 of the
    /// same app reserves meanwhile: its scan finds nothing (R1 holds the entry in a local), so its reservation of about
    /// 61,800 is checked against a month that does not yet hold the 90,750 and SUCCEEDS: R2 is the app's next store
    /// operation that succeeds, yet the pending cost is not in it. R2 is sent and costs 60,750: the month ends at
    /// 151,500, 51 % over its limit, with no store failure in R2's path at all. (Before R1 took the entry, R2 would have
    /// flushed it itself and been refused: the cost is invisible only while another request's flush is in flight.)</summary>
    [Fact]
    public async Task FlushInFlight_AConcurrentReservationOfTheSameApp_StillCountsThePendingCost()
    {
        var time = new FakeTimeProvider(March10);
        var store = new OutageStore(time) { FailReserves = true, FailSettles = true };
        var inner = new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 150 } }; // 90,750
        using IChatClient client = Build(store, time, 0.0001m, DifyBudgetPeriod.Month, inner);
        await client.GetResponseAsync("hello", Options("inflight-app")); // unchecked; settlement fails: 90,750 pending

        store.FailReserves = store.FailSettles = false;
        store.HoldNextSettle = true; // the next settlement (R1's flush) waits on the store
        Task r1 = client.GetResponseAsync("hello", Options("inflight-app"));
        await store.Held.Task.WaitAsync(TimeSpan.FromSeconds(10));

        inner.Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 100 }; // 60,750
        Task<Exception?> r2Task = Record.ExceptionAsync(() => client.GetResponseAsync("hello", Options("inflight-app")));
        await Task.Delay(200);
        Assert.False(r2Task.IsCompleted); // it waits for the flush in flight, not checked without the pending cost
        store.Release.SetResult();
        _ = await Record.ExceptionAsync(() => r1);
        Exception? r2 = await r2Task.WaitAsync(TimeSpan.FromSeconds(10));

        long month = store.Inner.SpentOf(Key("inflight-app", "m202603"));
        Assert.True(month <= 100_000, $"the month holds {month} nano against a limit of 100,000"); // observed: 151,500
        Assert.IsType<DifyBudgetExceededException>(r2); // observed: sent (no exception)
    }

    // ---- 2. every reservation of every app copies every app's pending keys; entries of apps that never return stay forever ----

    /// <summary>docs/budgets.md "What one request does": "What it costs, measured end to end: 1–4 µs and 952 B per request on
    /// the in-memory store"; <c>TakePending</c>'s own contract: "lock-free when none". After an outage in which 10,000 apps
    /// each made one request (the day's long tail: one call each), their costs are pending. Those apps do not come back today,
    /// so their entries stay. Every reservation of ANY other app, with nothing pending of its own, runs
    /// <c>Pending.Keys</c> (a ConcurrentDictionary snapshot: takes every bucket lock and copies all 10,000 keys) to find
    /// its own. Measured: the same request of an unrelated app allocates ~hundreds of KB more than with nothing pending, on
    /// every request, until those apps come back (an app whose budget was removed, or that was used once, never does).</summary>
    [Fact]
    public async Task PendingOfOtherApps_DoesNotAddToTheCostOfAnUnrelatedAppsRequest()
    {
        var time = new FakeTimeProvider(March10);
        var store = new OutageStore(time);
        var inner = new CountingChatClient();
        using IChatClient client = Build(store, time, 1m, DifyBudgetPeriod.Day, inner);
        for (int i = 0; i < 3; i++)
        {
            await client.GetResponseAsync("hello", Options("busy-app")); // warm
        }

        long baseline = Allocated(() => client.GetResponseAsync("hello", Options("busy-app")));

        store.FailReserves = store.FailSettles = true;
        for (int i = 0; i < 10_000; i++)
        {
            await client.GetResponseAsync("hello", Options("tail-" + i.ToString(CultureInfo.InvariantCulture))); // kept pending
        }

        store.FailReserves = store.FailSettles = false;
        await client.GetResponseAsync("hello", Options("busy-app"));
        long after = Allocated(() => client.GetResponseAsync("hello", Options("busy-app")));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 200; i++)
        {
            await client.GetResponseAsync("hello", Options("busy-app"));
        }

        double microsPerRequest = watch.Elapsed.TotalMicroseconds / 200;

        Assert.Equal(0, store.Inner.SpentOf(Key("tail-0", "d20260310"))); // held: no other app's entry is flushed
        Assert.True(after - baseline < 952, $"per request: {baseline} B with nothing pending, {after} B with 10,000 other apps' entries pending; {microsPerRequest:F0} µs a request"); // observed: ~+480 KB
    }

    private static long Allocated(Func<Task> call)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Task task = call();
        Assert.True(task.IsCompleted); // the in-memory store completes synchronously: all of it ran on this thread
        task.GetAwaiter().GetResult();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    // ---- 3. a pending cost of the other kind of period crosses this period's AlertAt: no alert ----

    /// <summary>docs/budgets.md: the pending cost is added "to the keys it was spent under (its day and its month ...), with the
    /// alerts it crosses"; "Alerts": "Each AlertAt fraction crossed logs one Warning per app, period and fraction"; "a Period
    /// changed on a reload finds the spend already made". A DAY budget of 1,000,000 nano, AlertAt 0.5. The store is down: a
    /// request costs 600,750 and is kept pending under (d20260310, twin m202603). The Period is reloaded to Month (same
    /// limit), the store is back; the app's next request flushes the entry (the month now holds 600,750: 60 %, its key is the
    /// entry's TWIN) and is refused (602,400 does not fit). The flush passes thresholds only when <c>kept.Name ==
    /// _key.Name</c>; here the current period's key is <c>kept.Twin</c>, so no thresholds, no alert; and the settle script
    /// claims alert markers under the entry's own NAME only, so the month's 0.5 is never claimed while the app is refused.</summary>
    [Fact]
    public Task DayPending_ReloadedToMonth_CrossesTheMonthsAlertAt_TheAlertIsRaised() => ReloadAlertAsync("Day", "Month");

    /// <summary>The same the other way: a MONTH budget's pending entry (m202603, twin d20260310), reloaded to Day: the day holds
    /// 60 % of its limit, no alert.</summary>
    [Fact]
    public Task MonthPending_ReloadedToDay_CrossesTheDaysAlertAt_TheAlertIsRaised() => ReloadAlertAsync("Month", "Day");

    /// <summary>Held (the control of the two above): no reload, the entry's name is the current key's: the flush raises 0.5
    /// before the refusal (so OnAlert is wired, and only the twin case loses the alert).</summary>
    [Fact]
    public Task DayPending_NoReload_CrossesAlertAt_TheAlertIsRaised() => ReloadAlertAsync("Day", "Day");

    private static async Task ReloadAlertAsync(string before, string after)
    {
        var time = new FakeTimeProvider(March10);
        var store = new OutageStore(time) { FailReserves = true, FailSettles = true };
        var inner = new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 1000 } }; // 600,750
        var alerts = new List<double>();
        var configuration = (IConfigurationRoot)new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Budgets:Default:LimitUsd"] = "0.001",
            ["Budgets:Default:Period"] = before,
            ["Budgets:AlertAt:0"] = "0.5",
        }).Build();
        using ServiceProvider services = new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(configuration)
            .PostConfigureAll<DifyMetadataOptions>(o => o.Budgets.OnAlert = a => alerts.Add(a.Threshold))
            .BuildServiceProvider();
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(services);
        await client.GetResponseAsync("hello", Options("twin-alert-app")); // unchecked; settlement fails: 600,750 pending

        configuration["Budgets:Default:Period"] = after;
        configuration.Reload();
        store.FailReserves = store.FailSettles = false;
        await Assert.ThrowsAsync<DifyBudgetExceededException>(() => client.GetResponseAsync("hello", Options("twin-alert-app", 1000)));

        string current = after == "Month" ? "m202603" : "d20260310";
        Assert.Equal(600_750, store.Inner.SpentOf(Key("twin-alert-app", current))); // held: the period holds it, 60 % of its limit
        Assert.Equal([0.5], alerts); // observed: [] (no alert)
    }

    // ---- 4. a flush whose store operation was applied but answered late is added again ----

    /// <summary>Reported: a flush the store applied but whose answer was lost (a RESP timeout) is put back and added again:
    /// the pending cost is counted twice. Documented (docs/budgets.md "When the store fails"): a cost whose store operation
    /// may have reached the store is kept, so it can be counted twice, never lost; a budget over-counts before it
    /// under-counts. Pinned so that a change is a decision.</summary>
    [Fact]
    public async Task FlushAppliedButAnsweredLate_ThePendingCostIsCountedTwice_AsDocumented()
    {
        var time = new FakeTimeProvider(March10);
        var store = new OutageStore(time) { FailReserves = true, FailSettles = true };
        var inner = new CountingChatClient();
        using IChatClient client = Build(store, time, 1m, DifyBudgetPeriod.Month, inner);
        await client.GetResponseAsync("hello", Options("late-app")); // unchecked; settlement fails: 2,550 pending

        store.FailReserves = store.FailSettles = false;
        store.ApplyThenFailNextSettle = true; // the flush reaches the store, its reply does not
        await client.GetResponseAsync("hello", Options("late-app")); // unchecked (the flush failed), then settled
        await client.GetResponseAsync("hello", Options("late-app"));

        Assert.Equal(3, inner.Calls);
        Assert.Equal(4 * Actual, store.Inner.SpentOf(Key("late-app", "m202603"))); // counted twice: over, never under
    }

    private static IChatClient Build(OutageStore store, TimeProvider time, decimal limit, DifyBudgetPeriod period, IChatClient inner) =>
        new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton(time)
            .AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = limit, Period = period })
            .BuildServiceProvider());

    /// <summary>The in-memory store behind switchable failures: <see cref="HoldNextSettle"/> makes the next settlement wait
    /// for <see cref="Release"/> (a slow store); <see cref="ApplyThenFailNextSettle"/> applies the next settlement, then
    /// throws (a reply lost after the server ran the script).</summary>
    private sealed class OutageStore(TimeProvider time) : IDifyBudgetStore
    {
        private int _hold;
        private int _late;

        public InMemoryDifyBudgetStore Inner { get; } = new(time);

        public volatile bool FailReserves;
        public volatile bool FailSettles;

        public bool HoldNextSettle { set => Volatile.Write(ref _hold, value ? 1 : 0); }

        public bool ApplyThenFailNextSettle { set => Volatile.Write(ref _late, value ? 1 : 0); }

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken) =>
            FailReserves ? throw new TimeoutException("store down") : Inner.ReserveAsync(key, amount, limit, cancellationToken);

        public async ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _hold, 0) == 1)
            {
                Held.TrySetResult();
                await Release.Task;
            }

            if (FailSettles)
            {
                throw new TimeoutException("store down");
            }

            DifyBudgetSettleResult result = await Inner.SettleAsync(key, delta, alertAt, cancellationToken);
            return Interlocked.Exchange(ref _late, 0) == 1 ? throw new TimeoutException("no reply within asyncTimeout") : result;
        }
    }
}
