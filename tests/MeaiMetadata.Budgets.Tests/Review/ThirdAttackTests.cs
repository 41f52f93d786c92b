using MeaiMetadata.Budgets.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Attack on 84890cf/01dee52/672037c: "only the innermost layer of a pipeline keeps budgets" (found when the
/// pipeline is built, through <c>InnerClient.GetService(typeof(DifyMetadataChatClient))</c>) and "every store operation
/// writes the app's day key and month key". The guarantee (docs/budgets.md): an app's settled spend in a period never
/// exceeds its limit, a request that does not fit is refused before anything is sent. Each test asserts the promise, so it
/// FAILS where a hole is left.</summary>
/// <remarks>Failing when written (holes): LayerHiddenByAWrapper_RequestChargedOnce (2), InnerLayerNotAlwaysReached_RoutedRequestIsBudgeted,
/// BudgetsOnTheOuterLayerOnly_RequestOverTheLimitIsRefused, DayAndMonthKeys_OfAnyAppId_ShareOneClusterSlot("}x"). Held:
/// TwoStackedLayers_RequestChargedOnce (2), the other app ids of the slot test, PeriodSwitchedDayToMonth_FindsTheSpend_AlertsOnce.</remarks>
public sealed class ThirdAttackTests(ITestOutputHelper output)
{
    private const string Model = "gpt-4o-mini";

    private static string Key(string app, DifyBudgetPeriod period = DifyBudgetPeriod.Month) =>
        DifyBudgetCall.KeyOf(app, period, DifyBudgetCall.Bounds(TimeProvider.System.GetUtcNow(), period).Start);

    private static (ServiceProvider Services, InMemoryDifyBudgetStore Store) Services(Action<DifyMetadataOptions> configure)
    {
        ServiceProvider sp = new ServiceCollection().AddDifyMetadata(configure).BuildServiceProvider();
        return (sp, sp.GetRequiredService<IDifyBudgetStore>() as InMemoryDifyBudgetStore ?? InMemoryDifyBudgetStore.Shared);
    }

    private static long NanoCost(long input, long output) =>
        DifyBudgetCall.ToNano(Spend.DifyPriceTable.BuiltIn.GetCost(Model, input, 0, output)!.Value);

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private static ChatOptions Options(string app) => new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app);

    // ---- 1. the innermost layer found through GetService ----

    /// <summary>A hand-written wrapper between two layers (a DelegatingChatClient that answers GetService for itself only,
    /// as many IChatClient wrappers do, or any IChatClient that does not forward GetService): the outer layer does not see
    /// the layer inside, so both keep the budget of the same request. One request is charged twice, and an app is refused
    /// at half its limit.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task LayerHiddenByAWrapper_RequestChargedOnce(bool streaming)
    {
        string app = Unique("hidden");
        var model = new CountingChatClient();
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(model).UseDifyMetadata().Use(next => new OpaqueClient(next)).UseDifyMetadata().Build(sp);

        await SendAsync(client, Options(app), streaming);

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"spent {spent} nano; the request cost {NanoCost(5, 3)} nano");
        Assert.Equal(1, model.Calls);
        Assert.Equal(NanoCost(5, 3), spent); // observed: twice the cost (both layers reserved and settled it)
    }

    /// <summary>A router between the layers (its GetService forwards to the default route, which has the layer): the outer
    /// layer believes a layer inside keeps the budgets, but a request the router sends to its other route (here by model)
    /// never reaches that layer: sent with no reservation, never settled, past a limit it cannot fit.</summary>
    [Fact]
    public async Task InnerLayerNotAlwaysReached_RoutedRequestIsBudgeted()
    {
        string app = Unique("routed");
        var secondary = new CountingChatClient();
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 0.000001m }); // fits no request
        IChatClient primary = new ChatClientBuilder(new ThrowingClient()).UseDifyMetadata().Build(sp);
        IChatClient client = new ChatClientBuilder(primary).UseDifyMetadata().Use(next => new RouterClient(next, secondary)).Build(sp); // the layer, then the router

        Exception? refused = await Record.ExceptionAsync(() => client.GetResponseAsync("hi", Options(app)));

        output.WriteLine($"secondary calls {secondary.Calls}; spent {store.SpentOf(Key(app))} nano");
        Assert.IsType<DifyBudgetExceededException>(refused); // observed: no exception, the routed request was sent
        Assert.Equal(0, secondary.Calls);
    }

    /// <summary>Budgets configured on the outer layer only (the inner one added by a library with its own options): the outer
    /// layer leaves budgets to the layer inside, which has none; a request that cannot fit the limit is sent. Documented
    /// ("only the innermost keeps budgets, with its own options"), but nothing says so at run time.</summary>
    [Fact]
    public async Task BudgetsOnTheOuterLayerOnly_RequestOverTheLimitIsRefused()
    {
        string app = Unique("outer-only");
        var model = new CountingChatClient();
        ServiceProvider sp = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IChatClient client = new ChatClientBuilder(model)
            .UseDifyMetadata(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 0.000001m }) // outer: fits no request
            .UseDifyMetadata() // inner: a library's layer, no budgets
            .Build(sp);

        Exception? refused = await Record.ExceptionAsync(() => client.GetResponseAsync("hi", Options(app)));

        Assert.IsType<DifyBudgetExceededException>(refused); // observed: sent, unbudgeted
        Assert.Equal(0, model.Calls);
    }

    /// <summary>Control: the same two layers with the same options, nothing between: charged once (held).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TwoStackedLayers_RequestChargedOnce(bool streaming)
    {
        string app = Unique("stacked");
        var model = new CountingChatClient();
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(model).UseDifyMetadata().Use(next => new ForwardingClient(next)).UseDifyMetadata().Build(sp);

        await SendAsync(client, Options(app), streaming);

        Assert.Equal(NanoCost(5, 3), store.SpentOf(Key(app)));
        Assert.Equal(NanoCost(5, 3), store.SpentOf(Key(app, DifyBudgetPeriod.Day))); // the twin kept beside it
    }

    // ---- 2. the twin key ----

    /// <summary>"The braces keep an app's keys in one Redis Cluster hash slot" (KeyOf), which the two-key scripts now need on
    /// every operation (a script whose keys are in two slots fails with CROSSSLOT on a cluster). An app id that starts with
    /// '}' makes the hash tag empty, so the day key and the month key hash as whole names, to different slots: every
    /// reservation of that app fails on a cluster (sent unchecked under Allow, refused under Refuse). App ids can come from
    /// baggage, which any caller can send.</summary>
    [Theory]
    [InlineData("plain")]
    [InlineData("}x")]
    [InlineData("a}b")]
    [InlineData("{x")]
    public void DayAndMonthKeys_OfAnyAppId_ShareOneClusterSlot(string app)
    {
        DateTimeOffset now = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);
        string day = DifyBudgetCall.KeyOf(app, DifyBudgetPeriod.Day, DifyBudgetCall.Bounds(now, DifyBudgetPeriod.Day).Start);
        string month = DifyBudgetCall.KeyOf(app, DifyBudgetPeriod.Month, DifyBudgetCall.Bounds(now, DifyBudgetPeriod.Month).Start);
        output.WriteLine($"{day} -> {Slot(day)}; {month} -> {Slot(month)}");
        Assert.Equal(Slot(day), Slot(month)); // observed for "}x": two slots
        Assert.Equal(Slot(day), Slot(day + ":alert:1000")); // the alert markers of the settle script too
    }

    /// <summary>The Redis Cluster hash slot of a key (CRC16/XMODEM of its hash tag or whole name, mod 16384).</summary>
    private static int Slot(string key)
    {
        int open = key.IndexOf('{', StringComparison.Ordinal);
        if (open >= 0)
        {
            int close = key.IndexOf('}', open + 1);
            if (close > open + 1)
            {
                key = key[(open + 1)..close];
            }
        }

        ushort crc = 0;
        foreach (byte b in System.Text.Encoding.UTF8.GetBytes(key))
        {
            crc ^= (ushort)(b << 8);
            for (int i = 0; i < 8; i++)
            {
                crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ 0x1021) : (ushort)(crc << 1);
            }
        }

        return crc % 16384;
    }

    /// <summary>A Period switched on a reload (Day to Month) finds the spend the day budget made, and its alert thresholds are
    /// claimed once in the month (held for the in-memory store).</summary>
    [Fact]
    public async Task PeriodSwitchedDayToMonth_FindsTheSpend_AlertsOnce()
    {
        string app = Unique("switch");
        var alerts = new List<double>();
        var model = new CountingChatClient { Usage = new() { InputTokenCount = 1_000_000, OutputTokenCount = 0 } }; // 0.15 USD
        var store = new InMemoryDifyBudgetStore();
        ServiceProvider day = new ServiceCollection().AddSingleton<IDifyBudgetStore>(store).AddDifyMetadata(o =>
        {
            o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m, Period = DifyBudgetPeriod.Day };
            o.Budgets.AlertAt.Add(0.1);
            o.Budgets.OnAlert = a => alerts.Add(a.Threshold);
        }).BuildServiceProvider();
        ServiceProvider month = new ServiceCollection().AddSingleton<IDifyBudgetStore>(store).AddDifyMetadata(o =>
        {
            o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 0.15m, Period = DifyBudgetPeriod.Month };
            o.Budgets.OnAlert = a => alerts.Add(a.Threshold);
        }).BuildServiceProvider();
        var options = new ChatOptions { ModelId = Model, MaxOutputTokens = 1 }.WithDifyAppId(app);

        await new ChatClientBuilder(model).UseDifyMetadata().Build(day).GetResponseAsync([new(ChatRole.User, "hi")], options);
        Exception? refused = await Record.ExceptionAsync(() =>
            new ChatClientBuilder(model).UseDifyMetadata().Build(month).GetResponseAsync([new(ChatRole.User, "hi again")], options));

        Assert.IsType<DifyBudgetExceededException>(refused); // 0.15 USD spent today counts in the month of 0.15 USD
        Assert.Equal([0.1], alerts);
    }

    private static async Task SendAsync(IChatClient client, ChatOptions options, bool streaming)
    {
        if (!streaming)
        {
            _ = await client.GetResponseAsync("hi", options);
            return;
        }

        await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hi", options))
        {
        }
    }

    /// <summary>A wrapper that answers GetService for itself only (it does not forward to the client it wraps).</summary>
    private sealed class OpaqueClient(IChatClient inner) : DelegatingChatClient(inner)
    {
        public override object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>An ordinary DelegatingChatClient (forwards GetService).</summary>
    private sealed class ForwardingClient(IChatClient inner) : DelegatingChatClient(inner);

    /// <summary>Sends gpt-4o-mini requests to <paramref name="secondary"/> (say, a deployment of its own), the others to the
    /// default route; GetService as DelegatingChatClient (the default route).</summary>
    private sealed class RouterClient(IChatClient primary, IChatClient secondary) : DelegatingChatClient(primary)
    {
        public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            options?.ModelId == Model ? secondary.GetResponseAsync(messages, options, cancellationToken) : base.GetResponseAsync(messages, options, cancellationToken);
    }

    private sealed class ThrowingClient : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new HttpRequestException("primary down");

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new HttpRequestException("primary down");

        public object? GetService(Type serviceType, object? serviceKey = null) => serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

        public void Dispose()
        {
        }
    }
}
