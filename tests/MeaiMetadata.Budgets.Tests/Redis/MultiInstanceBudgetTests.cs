using System.ClientModel;
using System.ClientModel.Primitives;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.Redis;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using OpenAI;
using Xunit.Abstractions;

namespace MeaiMetadata.Budgets.Tests.Redis;

/// <summary>The headline: 4 instances (separate connections and pipelines) x 250 concurrent requests of one app against a
/// budget worth N requests, through the official OpenAI SDK against the strict fake server; the same with usage below the
/// reservation, and with the store stopped mid-run.</summary>
public sealed class MultiInstanceBudgetTests(GarnetFixture garnet, ITestOutputHelper output) : IClassFixture<GarnetFixture>
{
    private const int Instances = 4, PerInstance = 250, Worth = 100;
    private const string Model = "gpt-4o-mini";
    private const decimal Nano = 1_000_000_000m;

    [Fact]
    public Task Garnet_FourInstancesShareOneBudget() => FourInstancesShareOneBudget("garnet (embedded)", garnet.Configuration);

    [RedisFact]
    public Task Redis_FourInstancesShareOneBudget() => FourInstancesShareOneBudget("redis-server", RealRedis.Configuration);

    private async Task FourInstancesShareOneBudget(string storeName, string configuration)
    {
        // The fake reports the usage the layer reserves, so a reservation is exactly the actual cost: the budget is worth
        // exactly N requests.
        List<ChatMessage> messages = [new(ChatRole.User, "hello")];
        long inputBound = DifyBudgetEstimate.InputTokens(messages, null, Model, null);
        const int maxOutput = 3;
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { InputTokens = (int)inputBound, OutputTokens = maxOutput });
        decimal perRequest = Spend.DifyPriceTable.BuiltIn.GetCost(Model, inputBound, 0, maxOutput)!.Value;
        decimal limit = perRequest * Worth;
        string app = "headline-" + Guid.NewGuid().ToString("N")[..8];

        var providers = new List<ServiceProvider>();
        var clients = new List<IChatClient>();
        for (int i = 0; i < Instances; i++)
        {
            ServiceProvider services = new ServiceCollection()
                .AddDifyMetadata(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit, Period = DifyBudgetPeriod.Day })
                .AddDifyBudgetRedisStore(configuration) // its own connection
                .BuildServiceProvider();
            providers.Add(services);
            var openAI = new OpenAIClient(new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });
            clients.Add(new ChatClientBuilder(openAI.GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(services));
        }

        try
        {
            int sent = 0, refused = 0, other = 0;
            var started = System.Diagnostics.Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, Instances * PerInstance).Select(async i =>
            {
                try
                {
                    await clients[i % Instances].GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = maxOutput }.WithDifyAppId(app));
                    _ = Interlocked.Increment(ref sent);
                }
                catch (DifyBudgetExceededException)
                {
                    _ = Interlocked.Increment(ref refused);
                }
                catch (Exception ex)
                {
                    output.WriteLine(ex.ToString());
                    _ = Interlocked.Increment(ref other);
                }
            }));

            await using var reader = new MeaiMetadata.Redis.RedisDifyBudgetStore(configuration);
            string key = DifyBudgetCall.KeyOf(app, DifyBudgetPeriod.Day, DifyBudgetCall.Bounds(DateTimeOffset.UtcNow, DifyBudgetPeriod.Day).Start);
            decimal spent = await reader.SpentOfAsync(key) / 1_000_000_000m;
            int seen = server.Requests.Count;
            output.WriteLine($"{storeName}: {Instances} instances x {PerInstance} concurrent requests, budget {limit} USD = {Worth} requests of {perRequest} USD: " +
                $"fake server saw {seen}, succeeded {sent}, refused {refused} (sent nothing), other errors {other}; settled spend {spent} USD of {limit} USD; {started.ElapsedMilliseconds} ms");

            Assert.Equal(0, other);
            Assert.True(seen <= Worth, $"the fake saw {seen} requests, more than the budget's {Worth}");
            Assert.Equal(sent, seen);                              // every refused request sent nothing
            Assert.Equal(Instances * PerInstance - sent, refused);
            Assert.True(spent <= limit, $"spend {spent} over the limit {limit}");
            Assert.True(spent >= limit - perRequest, $"spend {spent} short of the limit {limit} by more than one reservation"); // nothing starves
        }
        finally
        {
            foreach (ServiceProvider services in providers)
            {
                await services.DisposeAsync();
            }
        }
    }

    [Fact]
    public Task Garnet_UsageBelowTheReservation_SpendEndsWithinOneReservationOfTheLimit() => UsageBelowTheReservation("garnet (embedded)", garnet.Configuration);

    [RedisFact]
    public Task Redis_UsageBelowTheReservation_SpendEndsWithinOneReservationOfTheLimit() => UsageBelowTheReservation("redis-server", RealRedis.Configuration);

    [Theory]
    [InlineData(DifyBudgetStoreFailure.Allow)]
    [InlineData(DifyBudgetStoreFailure.Refuse)]
    public async Task Garnet_StoreStoppedMidRun_GivesTheDeclaredOnStoreFailure(DifyBudgetStoreFailure policy)
    {
        using var own = new GarnetFixture();
        await StoreStoppedMidRun("garnet (embedded, its own, stopped)", own.Configuration, own.Stop, policy);
    }

    [RedisServerTheory]
    [InlineData(DifyBudgetStoreFailure.Allow)]
    [InlineData(DifyBudgetStoreFailure.Refuse)]
    public async Task Redis_StoreStoppedMidRun_GivesTheDeclaredOnStoreFailure(DifyBudgetStoreFailure policy)
    {
        using RedisServerProcess own = await RedisServerProcess.StartAsync();
        await StoreStoppedMidRun("redis-server (its own, killed)", own.Configuration, own.Kill, policy);
    }

    /// <summary>The headline's 4 x 250 callers with usage far below the reservation (30 output tokens reserved, 3 used): each
    /// caller sends until it is refused once. Settled spend stays within the limit and ends less than one reservation short
    /// of it, so more requests pass than the budget's worth in reservations.</summary>
    /// <remarks>Callers send again until refused because a refusal is decided on the reservations in flight at that moment;
    /// the last refusal of the run comes when nothing else is in flight, so the spend it saw is the settled spend.</remarks>
    private async Task UsageBelowTheReservation(string storeName, string configuration)
    {
        const int reserveOutput = 30, actualOutput = 3;
        List<ChatMessage> messages = [new(ChatRole.User, "hello")];
        long input = DifyBudgetEstimate.InputTokens(messages, null, Model, null);
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { InputTokens = (int)input, OutputTokens = actualOutput });
        long reservation = DifyBudgetCall.ToNano(Spend.DifyPriceTable.BuiltIn.GetCost(Model, input, 0, reserveOutput)!.Value);
        long actual = DifyBudgetCall.ToNano(Spend.DifyPriceTable.BuiltIn.GetCost(Model, input, 0, actualOutput)!.Value);
        long limit = reservation * Worth;
        string app = "below-" + Guid.NewGuid().ToString("N")[..8];
        List<(ServiceProvider Services, IChatClient Client)> instances = Build(Instances, configuration, server, o =>
            o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit / Nano, Period = DifyBudgetPeriod.Month }, logging: false);
        try
        {
            int sent = 0, refused = 0, other = 0;
            var started = System.Diagnostics.Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, Instances * PerInstance).Select(async i =>
            {
                while (true)
                {
                    try
                    {
                        await instances[i % Instances].Client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = reserveOutput }.WithDifyAppId(app));
                        _ = Interlocked.Increment(ref sent);
                    }
                    catch (DifyBudgetExceededException)
                    {
                        _ = Interlocked.Increment(ref refused);
                        return;
                    }
                    catch (Exception ex)
                    {
                        output.WriteLine(ex.ToString());
                        _ = Interlocked.Increment(ref other);
                        return;
                    }
                }
            }));

            long spent = await SpentAsync(configuration, app);
            int seen = server.Requests.Count;
            output.WriteLine($"{storeName}: {Instances} instances x {PerInstance} callers, each sending until refused; reservation {reservation / Nano} USD, actual cost {actual / Nano} USD; " +
                $"budget {limit / Nano} USD = {Worth} reservations: fake server saw {seen}, succeeded {sent}, refused {refused} (sent nothing), other errors {other}; " +
                $"settled spend {spent / Nano} USD of {limit / Nano} USD, {(limit - spent) / Nano} USD short (one reservation: {reservation / Nano}); {started.ElapsedMilliseconds} ms");

            Assert.Equal(0, other);
            Assert.Equal(Instances * PerInstance, refused);  // each caller stopped at its one refusal
            Assert.Equal(sent, seen);                        // every refused request sent nothing
            Assert.Equal(sent * actual, spent);              // each request settled to its actual cost
            Assert.True(spent <= limit, $"spend {spent / Nano} over the limit {limit / Nano}");
            Assert.True(limit - spent < reservation, $"spend {spent / Nano} short of the limit {limit / Nano} by a reservation ({reservation / Nano}) or more"); // nothing starves
            Assert.True(sent > Worth, $"{sent} requests passed, no more than the {Worth} the reservations alone allow");
        }
        finally
        {
            foreach ((ServiceProvider services, _) in instances)
            {
                await services.DisposeAsync();
            }
        }
    }

    /// <summary>4 instances; 100 requests reserved and held in flight at the fake, the store stopped, then 100 more sent while
    /// the held ones are answered. Allow: the 100 go out unchecked; Refuse: they are refused naming the store failure and send
    /// nothing. Either way the held ones succeed (a failed settlement never fails a call).</summary>
    private async Task StoreStoppedMidRun(string storeName, string configuration, Action stop, DifyBudgetStoreFailure policy)
    {
        const int held = 100, after = 100, reserveOutput = 30, actualOutput = 3;
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2)); // a hang guard, not a timing
        List<ChatMessage> messages = [new(ChatRole.User, "hello")];
        long input = DifyBudgetEstimate.InputTokens(messages, null, Model, null);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int arrivals = 0;
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions
        {
            InputTokens = (int)input,
            OutputTokens = actualOutput, // below the reservation: each settlement has a change to make
            BeforeAnswer = (_, aborted) => Interlocked.Increment(ref arrivals) <= held ? release.Task.WaitAsync(aborted) : Task.CompletedTask,
        });
        long reservation = DifyBudgetCall.ToNano(Spend.DifyPriceTable.BuiltIn.GetCost(Model, input, 0, reserveOutput)!.Value);
        string app = "stopped-" + Guid.NewGuid().ToString("N")[..8];
        List<(ServiceProvider Services, IChatClient Client)> instances = Build(Instances, configuration, server, o =>
        {
            o.Budgets.Apps[app] = new DifyBudget { LimitUsd = reservation * 10_000 / Nano, Period = DifyBudgetPeriod.Month }; // never the limit here
            o.Budgets.OnStoreFailure = policy;
        }, logging: true);
        try
        {
            async Task<Exception?> Call(int i)
            {
                try
                {
                    await instances[i % Instances].Client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = reserveOutput }.WithDifyAppId(app));
                    return null;
                }
                catch (Exception ex)
                {
                    return ex;
                }
            }

            Task<Exception?>[] first = [.. Enumerable.Range(0, held).Select(Call)];
            while (server.Requests.Count < held) // all reserved and in flight
            {
                await Task.Delay(20, guard.Token);
            }

            long spentBefore = await SpentAsync(configuration, app);
            stop();

            // The held ones are answered (their settlements meet the stopped store) while the next ones are sent.
            Task<Exception?[]> next = Task.WhenAll(Enumerable.Range(held, after).Select(Call));
            release.SetResult();
            Exception?[] second = await next.WaitAsync(guard.Token);
            Exception?[] firstDone = await Task.WhenAll(first).WaitAsync(guard.Token);
            int seen = server.Requests.Count;

            IEnumerable<FakeLogRecord> logs = instances.SelectMany(x => x.Services.GetFakeLogCollector().GetSnapshot());
            int reserveFailures = logs.Count(r => r.Id.Id == 402 && r.Level == LogLevel.Error && r.Message.Contains("OnStoreFailure is " + policy, StringComparison.Ordinal));
            int settleFailures = logs.Count(r => r.Id.Id is 403 or 406 && r.Level == LogLevel.Error); // 406: the cost kept pending
            Exception? firstError = firstDone.Concat(second).FirstOrDefault(e => e is not null);
            output.WriteLine($"{storeName}, OnStoreFailure {policy}: {held} reserved (spend {spentBefore / Nano} USD = {held} x {reservation / Nano}) and in flight when the store stopped; " +
                $"then {after} more: {second.Count(e => e is null)} sent, {second.Count(e => e is DifyBudgetExceededException)} refused, {second.Count(e => e is not null and not DifyBudgetExceededException)} other; " +
                $"the fake saw {seen} in all; the held ones succeeded {firstDone.Count(e => e is null)}; " +
                $"logged: {reserveFailures} reserve failures ({policy}), {settleFailures} settle failures");
            if (firstError is not null)
            {
                output.WriteLine("first error: " + firstError);
            }

            Assert.Equal(held * reservation, spentBefore);
            Assert.All(firstDone, e => Assert.Null(e));      // a failed settlement never fails the call
            Assert.Equal(after, reserveFailures);            // every request after the stop met the failure, with the declared policy
            if (policy == DifyBudgetStoreFailure.Allow)
            {
                Assert.All(second, e => Assert.Null(e));     // sent unchecked
                Assert.Equal(held + after, seen);
                Assert.Equal(held + after, settleFailures);  // the held ones' settlements and the unchecked ones' costs
            }
            else
            {
                Assert.All(second, e =>
                {
                    DifyBudgetExceededException refused = Assert.IsType<DifyBudgetExceededException>(e);
                    Assert.NotNull(refused.InnerException);  // the store's failure
                    Assert.Contains("budget store could not be reached", refused.Message, StringComparison.Ordinal);
                });
                Assert.Equal(held, seen);                    // refused: nothing sent
                Assert.Equal(held, settleFailures);          // the held ones' settlements
            }
        }
        finally
        {
            release.TrySetResult();
            foreach ((ServiceProvider services, _) in instances)
            {
                await services.DisposeAsync();
            }
        }
    }

    /// <summary>Instances as the headline builds them: each its own service provider, store connection and OpenAI client.</summary>
    private static List<(ServiceProvider Services, IChatClient Client)> Build(int count, string configuration, FakeOpenAIServer server, Action<DifyMetadataOptions> configure, bool logging)
    {
        var instances = new List<(ServiceProvider, IChatClient)>();
        for (int i = 0; i < count; i++)
        {
            var collection = new ServiceCollection();
            if (logging)
            {
                _ = collection.AddLogging(b => b.AddFakeLogging());
            }

            ServiceProvider services = collection.AddDifyMetadata(configure).AddDifyBudgetRedisStore(configuration).BuildServiceProvider();
            var openAI = new OpenAIClient(new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });
            instances.Add((services, new ChatClientBuilder(openAI.GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(services)));
        }

        return instances;
    }

    private static async Task<long> SpentAsync(string configuration, string app)
    {
        await using var reader = new RedisDifyBudgetStore(configuration);
        return await reader.SpentOfAsync(DifyBudgetCall.KeyOf(app, DifyBudgetPeriod.Month, DifyBudgetCall.Bounds(DateTimeOffset.UtcNow, DifyBudgetPeriod.Month).Start));
    }
}
