using MeaiMetadata.Budgets.Tests.TestDoubles;
using MeaiMetadata.Redis;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace MeaiMetadata.Budgets.Tests.Redis;

/// <summary>The Redis store's scripts against a real RESP server: embedded Garnet always, redis-server where it runs.</summary>
public sealed class RedisDifyBudgetStoreTests(GarnetFixture garnet, ITestOutputHelper output) : IClassFixture<GarnetFixture>
{
    private static readonly DateTimeOffset Expiry = DateTimeOffset.UtcNow.AddHours(1);

    private static string NewKey() => "dify:budget:{test-" + Guid.NewGuid().ToString("N") + "}:d20260101";

    [Fact]
    public Task Garnet_ReserveIfItFits_SettleAndClaimAlertsOnce() => ReserveIfItFits_SettleAndClaimAlertsOnce(garnet.Configuration);

    [RedisFact]
    public Task Redis_ReserveIfItFits_SettleAndClaimAlertsOnce() => ReserveIfItFits_SettleAndClaimAlertsOnce(RealRedis.Configuration);

    [Fact]
    public Task Garnet_ConcurrentReservationsNeverPassTheLimit_UnsettledStayCharged() => ConcurrentReservationsNeverPassTheLimit(garnet.Configuration);

    [RedisFact]
    public Task Redis_ConcurrentReservationsNeverPassTheLimit_UnsettledStayCharged() => ConcurrentReservationsNeverPassTheLimit(RealRedis.Configuration);

    private static async Task ReserveIfItFits_SettleAndClaimAlertsOnce(string configuration)
    {
        await using var a = new RedisDifyBudgetStore(configuration);
        await using var b = new RedisDifyBudgetStore(configuration); // another instance, another connection
        string key = NewKey();

        Assert.Equal(new DifyBudgetReserveResult(true, 60), await a.ReserveAsync(Twinned(key), 60, 100, default));
        Assert.Equal(new DifyBudgetReserveResult(false, 60), await b.ReserveAsync(Twinned(key), 50, 100, default));
        DifyBudgetThreshold[] alertAt = [new(0.5, 50), new(0.8, 80)];
        DifyBudgetSettleResult settled = await a.SettleAsync(Twinned(key), -20, alertAt, default); // actual 40 of 60
        Assert.Equal(40, settled.Spent);
        Assert.Empty(settled.Claimed);
        Assert.Equal(new DifyBudgetReserveResult(true, 90), await b.ReserveAsync(Twinned(key), 50, 100, default));
        DifyBudgetSettleResult first = await b.SettleAsync(Twinned(key), 0, alertAt, default);
        DifyBudgetSettleResult again = await a.SettleAsync(Twinned(key), 0, [new(0.5, 45), new(0.8, 72)], default); // another limit
        Assert.Equal([0.5, 0.8], first.Claimed);
        Assert.Empty(again.Claimed); // once per app, period and fraction across instances, whatever their limits
        Assert.Equal(90, await a.SpentOfAsync(key));
        Assert.Equal(90, await a.SpentOfAsync(key + ":twin")); // the twin (the other kind of period) is kept by the same operations
    }

    private static DifyBudgetKey Twinned(string key) => new(key, Expiry, key + ":twin", Expiry);

    private async Task ConcurrentReservationsNeverPassTheLimit(string configuration)
    {
        string key = NewKey();
        var stores = Enumerable.Range(0, 4).Select(_ => new RedisDifyBudgetStore(configuration)).ToArray();
        try
        {
            DifyBudgetReserveResult[] results = await Task.WhenAll(Enumerable.Range(0, 400).Select(i =>
                stores[i % 4].ReserveAsync(Twinned(key), 7, 700, default).AsTask()));
            int reserved = results.Count(r => r.Reserved);
            output.WriteLine($"{configuration.Split(',')[0]}: 400 concurrent reservations of 7 against 700 on 4 connections: {reserved} reserved, spend {await stores[0].SpentOfAsync(key)}");
            Assert.Equal(100, reserved);
            Assert.Equal(700, await stores[0].SpentOfAsync(key));

            // The instances die without settling: a new one finds every reservation still charged.
            foreach (RedisDifyBudgetStore store in stores)
            {
                await store.DisposeAsync();
            }

            await using var fresh = new RedisDifyBudgetStore(configuration);
            Assert.Equal(700, await fresh.SpentOfAsync(key));
            Assert.False((await fresh.ReserveAsync(Twinned(key), 1, 700, default)).Reserved);
        }
        finally
        {
            foreach (RedisDifyBudgetStore store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData(DifyBudgetStoreFailure.Allow)]
    [InlineData(DifyBudgetStoreFailure.Refuse)]
    public async Task StoreStoppedMidRun_GivesTheDeclaredOnStoreFailure(DifyBudgetStoreFailure policy)
    {
        using var own = new GarnetFixture();
        var inner = new CountingChatClient();
        ServiceProvider services = new ServiceCollection()
            .AddLogging(b => b.AddFakeLogging())
            .AddDifyMetadata(o =>
            {
                o.Budgets.Default = new DifyBudget { LimitUsd = 1m };
                o.Budgets.OnStoreFailure = policy;
            })
            .AddDifyBudgetRedisStore(own.Configuration)
            .BuildServiceProvider();
        await using (services)
        {
            IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(services);
            ChatOptions Options() => new ChatOptions { ModelId = "gpt-4o-mini", MaxOutputTokens = 10 }.WithDifyAppId("app-1");

            await client.GetResponseAsync("hello", Options());
            Assert.Equal(1, inner.Calls);

            own.Stop();
            if (policy == DifyBudgetStoreFailure.Allow)
            {
                await client.GetResponseAsync("hello", Options());
                Assert.Equal(2, inner.Calls);
                Assert.Contains(services.GetFakeLogCollector().GetSnapshot(), r => r.Level == LogLevel.Error && r.Message.Contains("could not be reached", StringComparison.Ordinal));
            }
            else
            {
                var ex = await Assert.ThrowsAsync<DifyBudgetExceededException>(() => client.GetResponseAsync("hello", Options()));
                Assert.Equal(1, inner.Calls); // nothing sent
                Assert.Contains("budget store could not be reached", ex.Message);
                Assert.NotNull(ex.InnerException);
                output.WriteLine(ex.Message);
            }
        }
    }
}
