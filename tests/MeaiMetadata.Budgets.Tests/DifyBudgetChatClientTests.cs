using MeaiMetadata.Budgets.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace MeaiMetadata.Budgets.Tests;

public sealed class DifyBudgetChatClientTests
{
    private const string Model = "gpt-4o-mini";

    // "hello" from the user: 3 + 4 + 4 ("user") + 5 = 16 input tokens; 100 output tokens; gpt-4o-mini 0.15 / 0.6 per million.
    private const long Reservation = (16 * 150) + (100 * 600); // nano-dollars: 62,400
    private const long Actual = (5 * 150) + (3 * 600);         // 2,550

    private static ChatOptions Options(string app = "app-1", int? maxOutput = 100) =>
        new ChatOptions { ModelId = Model, MaxOutputTokens = maxOutput }.WithDifyAppId(app);

    private static (IChatClient Client, InMemoryDifyBudgetStore Store, FakeLogCollector Logs, ServiceProvider Services) Build(
        IChatClient inner, Action<DifyMetadataOptions> configure, TimeProvider? time = null, Func<ChatClientBuilder, ChatClientBuilder>? pipeline = null)
    {
        var services = new ServiceCollection();
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        services.AddLogging(b => b.AddFakeLogging()).AddMetrics().AddDifyMetadata(configure);
        ServiceProvider provider = services.BuildServiceProvider();
        ChatClientBuilder builder = pipeline?.Invoke(new ChatClientBuilder(inner)) ?? new ChatClientBuilder(inner).UseDifyMetadata();
        return (builder.Build(provider), (InMemoryDifyBudgetStore)provider.GetRequiredService<IDifyBudgetStore>(), provider.GetFakeLogCollector(), provider);
    }

    private static string Key(string app, TimeProvider? time = null, DifyBudgetPeriod period = DifyBudgetPeriod.Month) =>
        DifyBudgetCall.KeyOf(app, period, DifyBudgetCall.Bounds((time ?? TimeProvider.System).GetUtcNow(), period).Start);

    [Fact]
    public async Task GetResponseAsync_SettlesToTheActualCost()
    {
        var inner = new CountingChatClient();
        var (client, store, _, _) = Build(inner, o => o.Budgets.Default = new DifyBudget { LimitUsd = 1m });

        await client.GetResponseAsync("hello", Options());

        Assert.Equal(1, inner.Calls);
        Assert.Equal(Actual, store.SpentOf(Key("app-1")));
    }

    [Fact]
    public async Task GetResponseAsync_RefusesWhatDoesNotFit_SendingNothing_OneWarning_OutcomeBudgetExceeded()
    {
        var inner = new CountingChatClient { Usage = null }; // no usage: each call stays charged at its reservation
        var (client, store, logs, services) = Build(inner, o => o.Budgets.Apps["app-1"] = new DifyBudget { LimitUsd = 0.0001m, Period = DifyBudgetPeriod.Day });
        using var requests = new MetricCollector<long>(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);

        await client.GetResponseAsync("hello", Options());
        logs.Clear();
        var ex = await Assert.ThrowsAsync<DifyBudgetExceededException>(() => client.GetResponseAsync("hello", Options()));

        Assert.Equal(1, inner.Calls);
        Assert.Equal("app-1", ex.AppId);
        Assert.Equal(0.0001m, ex.LimitUsd);
        Assert.Equal(DifyBudgetCall.Bounds(DateTimeOffset.UtcNow, DifyBudgetPeriod.Day).End, ex.ResetsAt);
        Assert.Contains("app-1", ex.Message);
        Assert.Contains("0.0001 USD", ex.Message);
        Assert.Contains(ex.ResetsAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture), ex.Message);
        Assert.Single(logs.GetSnapshot(), r => r.Level == LogLevel.Warning);
        Assert.Equal(Reservation, store.SpentOf(Key("app-1", period: DifyBudgetPeriod.Day)));
        Assert.Contains(requests.GetMeasurementSnapshot(), m => (string?)m.Tags[DifyMetadataTelemetry.OutcomeTag] == "budget_exceeded");
    }

    [Fact]
    public async Task Default_IsABudgetOfItsOwnPerApp_AndAppsWithoutBudgetAreUntouched()
    {
        var inner = new CountingChatClient { Usage = null };
        var (client, store, _, _) = Build(inner, o =>
        {
            o.Budgets.Default = new DifyBudget { LimitUsd = 0.0001m };
            o.Budgets.Apps["big"] = new DifyBudget { LimitUsd = 10m };
        });

        await client.GetResponseAsync("hello", Options("a"));
        await client.GetResponseAsync("hello", Options("b")); // not the same pool as "a"
        await Assert.ThrowsAsync<DifyBudgetExceededException>(() => client.GetResponseAsync("hello", Options("a")));

        var (unbudgeted, store2, _, _) = Build(inner, o => o.Budgets.Apps["other"] = new DifyBudget { LimitUsd = 0m });
        ChatOptions untouched = Options("free", maxOutput: null);
        await unbudgeted.GetResponseAsync("hello", untouched);
        Assert.Null(inner.Received[^1]!.MaxOutputTokens);
        Assert.Equal(0, store2.SpentOf(Key("free")));
        Assert.Equal(Reservation, store.SpentOf(Key("b")));
    }

    [Fact]
    public async Task DefaultMaxOutputTokens_BoundsARequestThatSetsNone()
    {
        var inner = new CountingChatClient();
        var (client, _, _, _) = Build(inner, o =>
        {
            o.Budgets.Default = new DifyBudget { LimitUsd = 1m };
            o.Budgets.DefaultMaxOutputTokens = 123;
        });
        ChatOptions options = Options(maxOutput: null);

        await client.GetResponseAsync("hello", options);

        Assert.Equal(123, inner.Received[0]!.MaxOutputTokens);
        Assert.Null(options.MaxOutputTokens); // the caller's options are never changed
    }

    [Fact]
    public async Task UnpricedModel_IsRefusedWithHowToPriceIt()
    {
        var inner = new CountingChatClient();
        var (client, _, _, _) = Build(inner, o => o.Budgets.Default = new DifyBudget { LimitUsd = 1m });

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => client.GetResponseAsync("hello", new ChatOptions { ModelId = "my-model" }.WithDifyAppId("a")));

        Assert.Equal(0, inner.Calls);
        Assert.Contains("DifyMetadata:Prices", ex.Message);
        Assert.Contains("my-model", ex.Message);
    }

    [Fact]
    public async Task Streaming_SettlesAtTheEnd_AbandonedOrFailedBeforeUsageStaysAtTheReservation()
    {
        var inner = new CountingChatClient();
        var (client, store, _, _) = Build(inner, o => o.Budgets.Default = new DifyBudget { LimitUsd = 1m });

        await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hello", Options("whole")))
        {
        }

        await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hello", Options("abandoned")))
        {
            break;
        }

        inner.FailMidStream = true;
        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hello", Options("failed")))
            {
            }
        });

        Assert.Equal(Actual, store.SpentOf(Key("whole")));
        Assert.Equal(Reservation, store.SpentOf(Key("abandoned")));
        Assert.Equal(Reservation, store.SpentOf(Key("failed")));
    }

    [Fact]
    public async Task Streaming_RefusedBeforeTheFirstUpdate_SendsNothing()
    {
        var inner = new CountingChatClient();
        var (client, _, _, _) = Build(inner, o => o.Budgets.Default = new DifyBudget { LimitUsd = 0m });

        await Assert.ThrowsAsync<DifyBudgetExceededException>(async () =>
        {
            await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hello", Options()))
            {
            }
        });

        Assert.Equal(0, inner.Calls);
    }

    [Fact]
    public async Task DayBudget_ResetsAtMidnightUtc()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 31, 23, 59, 0, TimeSpan.Zero));
        var inner = new CountingChatClient { Usage = null };
        var (client, store, _, _) = Build(inner, o => o.Budgets.Default = new DifyBudget { LimitUsd = 0.0001m, Period = DifyBudgetPeriod.Day }, time);

        await client.GetResponseAsync("hello", Options());
        var ex = await Assert.ThrowsAsync<DifyBudgetExceededException>(() => client.GetResponseAsync("hello", Options()));
        Assert.Equal(new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero), ex.ResetsAt);

        time.Advance(TimeSpan.FromMinutes(1)); // 00:00 UTC, and a new month and year too
        await client.GetResponseAsync("hello", Options());

        Assert.Equal(2, inner.Calls);
        Assert.Equal(Reservation, store.SpentOf(Key("app-1", time, DifyBudgetPeriod.Day)));
    }

    [Fact]
    public async Task ACallThatCrossesMidnight_SettlesInThePeriodItReservedIn()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 6, 1, 23, 59, 59, TimeSpan.Zero));
        var inner = new CountingChatClient();
        inner.Answer = (_, o) =>
        {
            time.Advance(TimeSpan.FromSeconds(2));
            return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")) { Usage = new() { InputTokenCount = 5, OutputTokenCount = 3 } };
        };
        var (client, store, _, _) = Build(inner, o => o.Budgets.Default = new DifyBudget { LimitUsd = 1m, Period = DifyBudgetPeriod.Day }, time);
        string yesterday = Key("app-1", time, DifyBudgetPeriod.Day);

        await client.GetResponseAsync("hello", Options());

        Assert.Equal(Actual, store.SpentOf(yesterday));
        Assert.Equal(0, store.SpentOf(Key("app-1", time, DifyBudgetPeriod.Day)));
    }

    [Fact]
    public async Task InsideFunctionInvocation_ReservesEachModelRequest_OutsideOnePerToolLoop()
    {
        static CountingChatClient ToolModel() => new()
        {
            Answer = (messages, _) => messages.Any(m => m.Contents.OfType<FunctionResultContent>().Any())
                ? new ChatResponse(new ChatMessage(ChatRole.Assistant, "done")) { Usage = new() { InputTokenCount = 5, OutputTokenCount = 3 }, ModelId = Model }
                : new ChatResponse(new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("c1", "tool")])) { Usage = new() { InputTokenCount = 5, OutputTokenCount = 3 }, ModelId = Model },
        };
        ChatOptions WithTool() => new ChatOptions { ModelId = Model, MaxOutputTokens = 100, Tools = [AIFunctionFactory.Create(() => "x", "tool")] }.WithDifyAppId("app-1");

        var reservations = new List<long>();
        var recording = new RecordingStore(reservations);
        var insideModel = ToolModel();
        var services = new ServiceCollection().AddSingleton<IDifyBudgetStore>(recording).AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = 1m }).BuildServiceProvider();
        IChatClient inside = new ChatClientBuilder(insideModel).UseFunctionInvocation().UseDifyMetadata().Build(services);
        await inside.GetResponseAsync("hello", WithTool());
        Assert.Equal(2, insideModel.Calls);
        Assert.Equal(2, reservations.Count);
        Assert.Equal(2 * Actual, recording.Inner.SpentOf(Key("app-1")));

        reservations.Clear();
        var outside = new ChatClientBuilder(ToolModel()).UseDifyMetadata().UseFunctionInvocation().Build(
            new ServiceCollection().AddSingleton<IDifyBudgetStore>(recording = new RecordingStore(reservations)).AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = 1m }).BuildServiceProvider());
        await outside.GetResponseAsync("hello", WithTool());
        Assert.Single(reservations); // one reservation covers the whole tool loop, which it cannot bound
        Assert.Equal(2 * Actual, recording.Inner.SpentOf(Key("app-1"))); // settled to what the loop used
    }

    [Fact]
    public async Task Tokenizer_CountsFewerTokensThanBytes_AndNoFewerThanTheEncoding()
    {
        var tokenizer = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForModel(Model);
        string text = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 100));
        long bytes = DifyBudgetEstimate.InputTokens([new(ChatRole.User, text)], null, Model, null);
        long counted = DifyBudgetEstimate.InputTokens([new(ChatRole.User, text)], null, Model, (m, t) => tokenizer.CountTokens(t));

        Assert.True(counted < bytes / 3, $"{counted} tokens vs {bytes} bytes");
        Assert.True(counted >= tokenizer.CountTokens(text), $"{counted}");
        await Task.CompletedTask;
    }

    [Theory]
    [InlineData("DifyMetadata:Budgets:Apps:app-1:LimitUsd", "-1", "DifyMetadata:Budgets:Apps:app-1:LimitUsd", "app 'app-1'")]
    [InlineData("DifyMetadata:Budgets:Default:Period", "Week", "Period", "DifyMetadata:Budgets:Default:Period")]
    [InlineData("DifyMetadata:Budgets:AlertAt:0", "1.5", "DifyMetadata:Budgets:AlertAt", "1.5")]
    [InlineData("DifyMetadata:Budgets:DefaultMaxOutputTokens", "0", "DifyMetadata:Budgets:DefaultMaxOutputTokens", "0")]
    [InlineData("DifyMetadata:Budgets:OnStoreFailure", "Maybe", "OnStoreFailure", "Maybe")]
    public void BadConfiguration_IsRefusedAtStartUp_NamingTheKey(string key, string value, string named, string alsoNamed)
    {
        var settings = new Dictionary<string, string?> { ["DifyMetadata:Budgets:Default:LimitUsd"] = "5", [key] = value };
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        using ServiceProvider services = new ServiceCollection().AddDifyMetadata(configuration.GetSection("DifyMetadata")).BuildServiceProvider();

        Exception ex = Assert.ThrowsAny<Exception>(() => services.GetRequiredService<IOptionsMonitor<DifyMetadataOptions>>().Get(Microsoft.Extensions.Options.Options.DefaultName));

        Assert.Contains(named, ex.Message);
        Assert.Contains(alsoNamed, ex.Message);
    }

    [Fact]
    public void Configuration_BindsEveryBudgetKey()
    {
        var settings = new Dictionary<string, string?>
        {
            ["DifyMetadata:Budgets:Default:LimitUsd"] = "5",
            ["DifyMetadata:Budgets:Default:Period"] = "Day",
            ["DifyMetadata:Budgets:Apps:app-1:LimitUsd"] = "50",
            ["DifyMetadata:Budgets:DefaultMaxOutputTokens"] = "1000",
            ["DifyMetadata:Budgets:OnStoreFailure"] = "Refuse",
            ["DifyMetadata:Budgets:AlertAt:0"] = "0.8",
        };
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        using ServiceProvider services = new ServiceCollection().AddDifyMetadata(configuration.GetSection("DifyMetadata")).BuildServiceProvider();

        DifyBudgetOptions budgets = services.GetRequiredService<IOptionsMonitor<DifyMetadataOptions>>().CurrentValue.Budgets;

        Assert.Equal(5m, budgets.Default!.LimitUsd);
        Assert.Equal(DifyBudgetPeriod.Day, budgets.Default.Period);
        Assert.Equal(50m, budgets.Apps["app-1"].LimitUsd);
        Assert.Equal(DifyBudgetPeriod.Month, budgets.Apps["app-1"].Period);
        Assert.Equal(1000, budgets.DefaultMaxOutputTokens);
        Assert.Equal(DifyBudgetStoreFailure.Refuse, budgets.OnStoreFailure);
        Assert.Equal([0.8], budgets.AlertAt);
    }

    /// <summary>An in-memory store that records each reservation.</summary>
    private sealed class RecordingStore(List<long> reservations) : IDifyBudgetStore
    {
        public InMemoryDifyBudgetStore Inner { get; } = new();

        public ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken)
        {
            reservations.Add(amount);
            return Inner.ReserveAsync(key, amount, limit, cancellationToken);
        }

        public ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken) =>
            Inner.SettleAsync(key, delta, alertAt, cancellationToken);
    }
}
