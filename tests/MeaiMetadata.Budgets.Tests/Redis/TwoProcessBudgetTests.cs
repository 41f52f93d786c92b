using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Text.Json;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.Redis;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using Xunit.Abstractions;

namespace MeaiMetadata.Budgets.Tests.Redis;

/// <summary>One budget shared by instances in separate OS processes (tests/MeaiMetadata.Budgets.Worker, started with
/// <c>dotnet</c>), through the official OpenAI SDK against the strict fake server of this process; the store is the embedded
/// Garnet of this process (on loopback) or a real redis-server.</summary>
public sealed class TwoProcessBudgetTests(GarnetFixture garnet, ITestOutputHelper output) : IClassFixture<GarnetFixture>
{
    private const string Model = "gpt-4o-mini";
    private const decimal Nano = 1_000_000_000m;

    // A guard against a hang only (a worker that never answers); nothing here asserts a time.
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    [Fact]
    public Task Garnet_TwoProcessesShareOneBudget() => TwoProcessesShareOneBudget("garnet (embedded)", garnet.Configuration);

    [RedisFact]
    public Task Redis_TwoProcessesShareOneBudget() => TwoProcessesShareOneBudget("redis-server", RealRedis.Configuration);

    [Fact]
    public Task Garnet_ProcessKilledMidFlight_LeavesItsReservationsCharged() => ProcessKilledMidFlight_LeavesItsReservationsCharged("garnet (embedded)", garnet.Configuration);

    [RedisFact]
    public Task Redis_ProcessKilledMidFlight_LeavesItsReservationsCharged() => ProcessKilledMidFlight_LeavesItsReservationsCharged("redis-server", RealRedis.Configuration);

    /// <summary>2 processes x 2 instances x 250 concurrent requests of one app (1,000), a budget worth 100 requests.</summary>
    private async Task TwoProcessesShareOneBudget(string storeName, string configuration)
    {
        const int processes = 2, instances = 2, perInstance = 250, worth = 100, maxOutput = 3;
        using var guard = new CancellationTokenSource(HangGuard);
        var started = System.Diagnostics.Stopwatch.StartNew();

        // The fake reports the usage the layer reserves: a reservation is exactly the actual cost, the budget worth N requests.
        long input = InputBound();
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { InputTokens = (int)input, OutputTokens = maxOutput });
        decimal perRequest = Spend.DifyPriceTable.BuiltIn.GetCost(Model, input, 0, maxOutput)!.Value;
        decimal limit = perRequest * worth;
        string app = "two-proc-" + Guid.NewGuid().ToString("N")[..8];

        var workers = new List<BudgetWorker>();
        try
        {
            // Started, and ready (pipelines built, each instance's store connection and HTTP client warmed up by a request of
            // another app), before either fires: the two processes' requests race for the budget.
            string warmup = app + "-warmup";
            string[] args = [.. WorkerArgs(server, configuration, app, limit, instances, maxOutput, [instances * perInstance]),
                "--warmup-app", warmup, $"DifyMetadata:Budgets:Apps:{warmup}:LimitUsd=1"];
            foreach (Task<BudgetWorker> starting in Enumerable.Range(0, processes).Select(_ => BudgetWorker.StartAsync(args, guard.Token)).ToList())
            {
                workers.Add(await starting);
            }

            DateTimeOffset at = DateTimeOffset.UtcNow.AddMilliseconds(300); // both fire at one instant
            await Task.WhenAll(workers.Select(w => w.GoAsync(at)));
            JsonElement[] results = await Task.WhenAll(workers.Select(w => w.ReadAsync(guard.Token)));
            await Task.WhenAll(workers.Select(w => w.WaitForExitAsync(guard.Token)));

            int sent = results.Sum(r => r.GetProperty("sent").GetInt32());
            int refused = results.Sum(r => r.GetProperty("refused").GetInt32());
            int failed = results.Sum(r => r.GetProperty("failed").GetInt32());
            decimal spent = await SpentAsync(configuration, app);
            int seen = server.Requests.Count(r => r.Metadata?.GetValueOrDefault("dify_app_id") == app);
            Assert.Equal(processes * instances, server.Requests.Count - seen); // the warm-up requests, one per instance
            output.WriteLine($"{storeName}: {processes} processes x {instances} instances x {perInstance} concurrent requests, budget {limit} USD = {worth} requests of {perRequest} USD: " +
                $"fake server saw {seen}, succeeded {sent} ({string.Join(" + ", results.Select(r => r.GetProperty("sent").GetInt32()))} per process), refused {refused} (sent nothing), " +
                $"other errors {failed}; settled spend {spent} USD of {limit} USD; {started.ElapsedMilliseconds} ms with the processes' start");
            foreach (JsonElement result in results.Where(r => r.GetProperty("failed").GetInt32() > 0))
            {
                output.WriteLine("a worker's first error: " + result.GetProperty("error"));
            }

            Assert.Equal(0, failed);
            Assert.All(workers, w => Assert.Equal(0, w.ExitCode));
            Assert.True(seen <= worth, $"the fake saw {seen} requests, more than the budget's {worth}");
            Assert.Equal(sent, seen);                                 // every refused request sent nothing
            Assert.Equal(processes * instances * perInstance, sent + refused);
            Assert.True(spent <= limit, $"spend {spent} over the limit {limit}");
            Assert.True(limit - spent < perRequest, $"spend {spent} short of the limit {limit} by a reservation ({perRequest}) or more"); // nothing starves
        }
        finally
        {
            foreach (BudgetWorker worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    /// <summary>A worker settles 4 requests, then reserves 6 more that the fake holds open, and is killed with them in flight:
    /// the spend keeps the 4 at their actual cost and the 6 at their reservation, and another instance sees it.</summary>
    private async Task ProcessKilledMidFlight_LeavesItsReservationsCharged(string storeName, string configuration)
    {
        const int settled = 4, held = 6, reserveOutput = 1_000, actualOutput = 3;
        using var guard = new CancellationTokenSource(HangGuard);
        var started = System.Diagnostics.Stopwatch.StartNew();

        // Model requests 5 to 10 are held until their client goes away; the others are answered at once.
        int arrivals = 0;
        long input = InputBound();
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions
        {
            InputTokens = (int)input,
            OutputTokens = actualOutput, // far below the reservation's 1,000
            BeforeAnswer = (_, aborted) => Interlocked.Increment(ref arrivals) is > settled and <= settled + held ? Task.Delay(Timeout.Infinite, aborted) : Task.CompletedTask,
        });
        long reservation = DifyBudgetCall.ToNano(Spend.DifyPriceTable.BuiltIn.GetCost(Model, input, 0, reserveOutput)!.Value);
        long actual = DifyBudgetCall.ToNano(Spend.DifyPriceTable.BuiltIn.GetCost(Model, input, 0, actualOutput)!.Value);
        long expected = (settled * actual) + (held * reservation);

        // Room for both waves, and after them less than one more reservation: any reservation lost lets the next request in.
        long limitNano = expected + reservation - 1;
        decimal limit = limitNano / Nano;
        string app = "killed-" + Guid.NewGuid().ToString("N")[..8];

        await using (BudgetWorker worker = await BudgetWorker.StartAsync(WorkerArgs(server, configuration, app, limit, 2, reserveOutput, [settled, held]), guard.Token))
        {
            await worker.GoAsync();
            JsonElement first = await worker.ReadAsync(guard.Token);
            Assert.Equal(settled, first.GetProperty("sent").GetInt32()); // settled: answered, and GetResponseAsync returns after the settlement
            while (server.Requests.Count < settled + held) // the second wave reserved, sent, and held at the fake
            {
                await Task.Delay(20, guard.Token);
            }

            worker.Kill();
            await worker.WaitForExitAsync(guard.Token);
            Assert.DoesNotContain(await worker.RemainingLinesAsync(guard.Token), l => l.Contains("\"wave\":2", StringComparison.Ordinal)); // killed mid-flight
        }

        long spentNano;
        await using (var reader = new RedisDifyBudgetStore(configuration))
        {
            spentNano = await reader.SpentOfAsync(KeyOf(app));
        }

        // Another instance (this process, its own connection, the same budget): a request of the same size does not fit and
        // sends nothing; a smaller one that fits what is left goes through.
        ServiceProvider services = new ServiceCollection()
            .AddDifyMetadata(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit, Period = DifyBudgetPeriod.Month })
            .AddDifyBudgetRedisStore(configuration)
            .BuildServiceProvider();
        await using (services)
        {
            var openAI = new OpenAIClient(new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });
            IChatClient other = new ChatClientBuilder(openAI.GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(services);
            DifyBudgetExceededException refused = await Assert.ThrowsAsync<DifyBudgetExceededException>(() =>
                other.GetResponseAsync("hello", new ChatOptions { MaxOutputTokens = reserveOutput }.WithDifyAppId(app)));
            int seenAfterRefusal = server.Requests.Count;
            _ = await other.GetResponseAsync("hello", new ChatOptions { MaxOutputTokens = reserveOutput / 2 }.WithDifyAppId(app));
            int seenAfterSmaller = server.Requests.Count;

            output.WriteLine($"{storeName}: a worker process settled {settled} requests ({actual / Nano} USD each, reserved {reservation / Nano}) and was killed with {held} reserved and in flight: " +
                $"spend {spentNano / Nano} USD, expected {settled} x {actual / Nano} + {held} x {reservation / Nano} = {expected / Nano} USD; limit {limit} USD. " +
                $"Another instance: a request of {reservation / Nano} USD refused (fake saw {seenAfterRefusal}, {settled + held} before), a smaller one sent (fake saw {seenAfterSmaller}); {started.ElapsedMilliseconds} ms");
            output.WriteLine("the refusal: " + refused.Message);

            Assert.Equal(expected, spentNano);               // never under-counts: the killed process's reservations stay charged
            Assert.Null(refused.InnerException);             // refused on the spend, not on a store failure
            Assert.Equal(settled + held, seenAfterRefusal);  // refused: nothing sent
            Assert.Equal(settled + held + 1, seenAfterSmaller);
        }
    }

    private static long InputBound() => DifyBudgetEstimate.InputTokens([new ChatMessage(ChatRole.User, "hello")], null, Model, null);

    private static string KeyOf(string app) =>
        DifyBudgetCall.KeyOf(app, DifyBudgetPeriod.Month, DifyBudgetCall.Bounds(DateTimeOffset.UtcNow, DifyBudgetPeriod.Month).Start);

    private static async Task<decimal> SpentAsync(string configuration, string app)
    {
        await using var reader = new RedisDifyBudgetStore(configuration);
        return await reader.SpentOfAsync(KeyOf(app)) / Nano;
    }

    /// <summary>The worker's arguments: the app's budget bound from configuration as an app's appsettings would, store timeouts
    /// roomy enough that a busy machine is not a store failure.</summary>
    private static string[] WorkerArgs(FakeOpenAIServer server, string configuration, string app, decimal limit, int instances, int maxOutput, int[] waves) =>
    [
        "--fake", server.BaseAddress.ToString(),
        "--store", configuration.Replace("asyncTimeout=2000,syncTimeout=2000", "asyncTimeout=15000,syncTimeout=15000", StringComparison.Ordinal),
        "--app", app,
        "--model", Model,
        "--instances", instances.ToString(CultureInfo.InvariantCulture),
        "--max-output", maxOutput.ToString(CultureInfo.InvariantCulture),
        "--waves", string.Join(',', waves),
        $"DifyMetadata:Budgets:Apps:{app}:LimitUsd={limit.ToString(CultureInfo.InvariantCulture)}",
        $"DifyMetadata:Budgets:Apps:{app}:Period=Month",
    ];
}
