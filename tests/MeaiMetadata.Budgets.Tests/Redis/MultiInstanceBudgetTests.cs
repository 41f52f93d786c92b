using System.ClientModel;
using System.ClientModel.Primitives;
using MeaiMetadata.FakeOpenAI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using Xunit.Abstractions;

namespace MeaiMetadata.Budgets.Tests.Redis;

/// <summary>The headline: 4 instances (separate connections and pipelines) x 250 concurrent requests of one app against a
/// budget worth N requests, through the official OpenAI SDK against the strict fake server.</summary>
public sealed class MultiInstanceBudgetTests(GarnetFixture garnet, ITestOutputHelper output) : IClassFixture<GarnetFixture>
{
    private const int Instances = 4, PerInstance = 250, Worth = 100;
    private const string Model = "gpt-4o-mini";

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
}
