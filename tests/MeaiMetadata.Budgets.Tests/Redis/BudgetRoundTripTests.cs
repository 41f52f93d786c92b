using MeaiMetadata.Budgets.Tests.TestDoubles;
using MeaiMetadata.Redis;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using StackExchange.Redis.Profiling;
using Xunit.Abstractions;

namespace MeaiMetadata.Budgets.Tests.Redis;

/// <summary>
/// The round trips of one budgeted request to a RESP store, counted command by command with StackExchange.Redis's
/// profiling API (<see cref="IConnectionMultiplexer.RegisterProfiler"/>): at most one before the request reaches the provider
/// (the reservation) and at most one after (the settlement, alerts included). The provider stand-in takes the commands sent
/// so far when it is called, so "before" and "after" are told apart. Embedded Garnet always, redis-server where it runs.
/// </summary>
public sealed class BudgetRoundTripTests(GarnetFixture garnet, ITestOutputHelper output) : IClassFixture<GarnetFixture>
{
    private const string Model = "gpt-4o-mini";

    [Fact]
    public Task Garnet_OneRoundTripBeforeAndOneAfter() => OneRoundTripBeforeAndOneAfter(garnet.Configuration, streaming: false);

    [Fact]
    public Task Garnet_Streaming_OneRoundTripBeforeAndOneAfter() => OneRoundTripBeforeAndOneAfter(garnet.Configuration, streaming: true);

    [RedisFact]
    public Task Redis_OneRoundTripBeforeAndOneAfter() => OneRoundTripBeforeAndOneAfter(RealRedis.Configuration, streaming: false);

    [RedisFact]
    public Task Redis_Streaming_OneRoundTripBeforeAndOneAfter() => OneRoundTripBeforeAndOneAfter(RealRedis.Configuration, streaming: true);

    [Fact]
    public async Task Garnet_RefusedRequest_OneRoundTrip_NothingAfter()
    {
        await using var counter = await RoundTripCounter.ConnectAsync(garnet.Configuration);
        string app = NewApp();
        var inner = new ProbeChatClient(counter, new CountingChatClient { Usage = null }); // no usage: charged at the reservation
        using ServiceProvider services = Services(counter, o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 0.00001m, Period = DifyBudgetPeriod.Day });
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(services);

        // "hello" with 10 output tokens reserves 16 x 150 + 10 x 600 = 8,400 of the 10,000 nano-dollars: a second does not fit.
        await client.GetResponseAsync("hello", Options(app));
        _ = counter.Take();
        inner.Before = null;
        await Assert.ThrowsAsync<DifyBudgetExceededException>(() => client.GetResponseAsync("hello", Options(app)));
        IReadOnlyList<string> sent = counter.Take();

        output.WriteLine($"refused: {string.Join(", ", sent)}");
        Assert.Null(inner.Before); // the provider was not called
        Assert.Single(sent);       // the reservation that did not fit, and no settlement
        Assert.Contains(sent[0], ScriptCommands);
    }

    [Fact]
    public async Task Garnet_WithAlerts_TheSettlementClaimsThemInItsOneRoundTrip()
    {
        await using var counter = await RoundTripCounter.ConnectAsync(garnet.Configuration);
        string app = NewApp();
        var inner = new ProbeChatClient(counter, new CountingChatClient());
        var alerts = new List<DifyBudgetAlert>();
        using ServiceProvider services = Services(counter, o =>
        {
            o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 0.00001m, Period = DifyBudgetPeriod.Day }; // 10,000 nano-dollars
            o.Budgets.AlertAt.Add(0.1);
            o.Budgets.AlertAt.Add(0.2);
            o.Budgets.OnAlert = alerts.Add;
        });
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(services);

        // "hello" with 10 output tokens reserves 16 x 150 + 10 x 600 = 8,400; settles 2,550 (5 in, 3 out): 25 % of the limit.
        (IReadOnlyList<string> before, IReadOnlyList<string> after) = await OneRequestAsync(client, inner, counter, app, streaming: false);

        output.WriteLine($"before: {string.Join(", ", before)}; after: {string.Join(", ", after)}; alerts: {alerts.Count}");
        Assert.Single(before);
        Assert.Single(after);
        Assert.Equal([0.1, 0.2], alerts.Select(a => a.Threshold)); // both claimed by that one settlement
    }

    /// <summary>The count can fail: a store that reads the spend before it reserves (one round trip more) is seen.</summary>
    [Fact]
    public async Task Garnet_AStoreWithAnExtraRoundTrip_IsCaught()
    {
        await using var counter = await RoundTripCounter.ConnectAsync(garnet.Configuration);
        string app = NewApp();
        var inner = new ProbeChatClient(counter, new CountingChatClient());
        ServiceProvider services = new ServiceCollection()
            .AddDifyMetadata(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m, Period = DifyBudgetPeriod.Day })
            .AddSingleton<IDifyBudgetStore>(new ReadFirstStore(counter.Connection))
            .BuildServiceProvider();
        using (services)
        {
            using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(services);
            await client.GetResponseAsync("warm up", Options(app));
            _ = counter.Take();

            (IReadOnlyList<string> before, IReadOnlyList<string> after) = await OneRequestAsync(client, inner, counter, app, streaming: false);

            output.WriteLine($"before: {string.Join(", ", before)}; after: {string.Join(", ", after)}");
            Assert.Equal(2, before.Count); // what OneRoundTripBeforeAndOneAfter would refuse
            Assert.Single(after);
        }
    }

    private static readonly string[] ScriptCommands = ["EVAL", "EVALSHA"];

    private async Task OneRoundTripBeforeAndOneAfter(string configuration, bool streaming)
    {
        await using var counter = await RoundTripCounter.ConnectAsync(configuration);
        string app = NewApp();
        var inner = new ProbeChatClient(counter, new CountingChatClient());
        using ServiceProvider services = Services(counter, o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m, Period = DifyBudgetPeriod.Day });
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(services);

        // The first request of a connection included: a script the server has not seen yet must not cost a round trip more.
        for (int request = 1; request <= 3; request++)
        {
            (IReadOnlyList<string> before, IReadOnlyList<string> after) = await OneRequestAsync(client, inner, counter, app, streaming);

            output.WriteLine($"{configuration.Split(',')[0]}, request {request}{(streaming ? ", streaming" : "")}: before the call {string.Join(", ", before)}; after it {string.Join(", ", after)}");
            Assert.Single(before); // the reservation, and nothing else
            Assert.Single(after);  // the settlement, and nothing else
            Assert.Contains(before[0], ScriptCommands);
            Assert.Contains(after[0], ScriptCommands);
        }

        Assert.Equal(3, inner.Inner.Calls);
    }

    /// <summary>Sends one request and returns the commands sent before the provider was called and those sent after.</summary>
    private static async Task<(IReadOnlyList<string> Before, IReadOnlyList<string> After)> OneRequestAsync(
        IChatClient client, ProbeChatClient inner, RoundTripCounter counter, string app, bool streaming)
    {
        _ = counter.Take();
        inner.Before = null;
        if (streaming)
        {
            await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync("hello", Options(app)))
            {
                _ = update;
            }
        }
        else
        {
            _ = await client.GetResponseAsync("hello", Options(app));
        }

        IReadOnlyList<string> after = counter.Take();
        return (inner.Before ?? throw new InvalidOperationException("The provider was not called."), after);
    }

    private static ServiceProvider Services(RoundTripCounter counter, Action<DifyMetadataOptions> configure) =>
        new ServiceCollection().AddDifyMetadata(configure).AddDifyBudgetRedisStore(counter.Connection).BuildServiceProvider();

    private static ChatOptions Options(string app) => new ChatOptions { ModelId = Model, MaxOutputTokens = 10 }.WithDifyAppId(app);

    private static string NewApp() => "round-trips-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>A connection whose commands are profiled; <see cref="Take"/> returns those sent since the last take.</summary>
    private sealed class RoundTripCounter : IAsyncDisposable
    {
        private readonly ProfilingSession _session = new();

        private RoundTripCounter(ConnectionMultiplexer connection)
        {
            Connection = connection;
        }

        public ConnectionMultiplexer Connection { get; }

        public static async Task<RoundTripCounter> ConnectAsync(string configuration)
        {
            // Connected (handshake done) before the profiler is registered; no keep-alive PING or configuration check during a test.
            ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(configuration + ",keepAlive=600,configCheckSeconds=600");
            var counter = new RoundTripCounter(connection);
            connection.RegisterProfiler(() => counter._session);
            return counter;
        }

        public IReadOnlyList<string> Take() => [.. _session.FinishProfiling().Select(c => c.Command)];

        public async ValueTask DisposeAsync() => await Connection.DisposeAsync();
    }

    /// <summary>The provider stand-in: takes the commands sent so far when it is called (before the stream's first update).</summary>
    private sealed class ProbeChatClient(RoundTripCounter counter, CountingChatClient inner) : DelegatingChatClient(inner)
    {
        public CountingChatClient Inner => inner;

        public IReadOnlyList<string>? Before { get; set; }

        public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Before = counter.Take();
            return base.GetResponseAsync(messages, options, cancellationToken);
        }

        public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Before = counter.Take();
            return base.GetStreamingResponseAsync(messages, options, cancellationToken);
        }
    }

    /// <summary>The Redis store with one round trip too many: it reads the spend (GET) before each reservation.</summary>
    private sealed class ReadFirstStore(ConnectionMultiplexer connection) : IDifyBudgetStore
    {
        private readonly RedisDifyBudgetStore _store = new(connection);

        public async ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken)
        {
            _ = await connection.GetDatabase().StringGetAsync(key.Name);
            return await _store.ReserveAsync(key, amount, limit, cancellationToken);
        }

        public ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken) =>
            _store.SettleAsync(key, delta, alertAt, cancellationToken);
    }
}
