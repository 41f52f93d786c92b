using System.ClientModel;
using System.ClientModel.Primitives;
using MeaiMetadata.Budgets.Tests.TestDoubles;
using MeaiMetadata.FakeOpenAI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;
using Xunit.Abstractions;

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Reviewer repros: ways to spend more than a budget's limit.</summary>
public sealed class OverspendReproTests(ITestOutputHelper output)
{
    private const decimal Nano = 1_000_000_000m;

    private static string Key(string app, DifyBudgetPeriod period = DifyBudgetPeriod.Month) =>
        DifyBudgetCall.KeyOf(app, period, DifyBudgetCall.Bounds(DateTimeOffset.UtcNow, period).Start);

    private static (ServiceProvider Services, InMemoryDifyBudgetStore Store) Services(Action<DifyMetadataOptions> configure)
    {
        ServiceProvider sp = new ServiceCollection().AddDifyMetadata(configure).BuildServiceProvider();
        return (sp, (InMemoryDifyBudgetStore)sp.GetRequiredService<IDifyBudgetStore>());
    }

    private static OpenAIClient OpenAI(FakeOpenAIServer server) =>
        new(new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });

    // 1. ChatOptions.ModelId names a cheap model; the OpenAI chat client is bound to a dear one and sends that.
    [Fact]
    public async Task ModelId_CheapInOptions_DearInClient_ReservationPricedCheap_SpendPassesLimit()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { InputTokens = 16, OutputTokens = 100 });
        // Reservation at gpt-4o-mini: 16 input + 100 output = 62,400 nano. Limit: two such reservations.
        decimal limit = 2 * 62_400m / Nano;
        var (sp, store) = Services(o => o.Budgets.Apps["app-m"] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient("gpt-4o").AsIChatClient()).UseDifyMetadata().Build(sp);

        for (int i = 0; i < 5; i++)
        {
            try { await client.GetResponseAsync("hello", new ChatOptions { ModelId = "gpt-4o-mini", MaxOutputTokens = 100 }.WithDifyAppId("app-m")); }
            catch (DifyBudgetExceededException) { }
        }

        long spent = store.SpentOf(Key("app-m"));
        output.WriteLine($"models sent: {string.Join(",", server.Requests.Select(r => r.Model))}; requests {server.Requests.Count}; spent {spent / Nano} USD of limit {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD");
    }

    // 2. A RawRepresentationFactory sets a larger max output than ChatOptions.MaxOutputTokens.
    [Fact]
    public async Task RawRepresentationFactory_LargerMaxOutput_IsReservedForWhatItAsks()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions
        {
            UsageOf = r => new FakeUsage(16, r.Body.Contains("\"max_completion_tokens\":50000") ? 50_000 : 10),
        });
        decimal limit = 0.001m; // gpt-4o-mini: 50,000 output tokens cost 0.03 USD, 30 times the limit
        var (sp, store) = Services(o => o.Budgets.Apps["app-r"] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient("gpt-4o-mini").AsIChatClient()).UseDifyMetadata().Build(sp);

        var options = new ChatOptions
        {
            MaxOutputTokens = 10,
            RawRepresentationFactory = _ => new ChatCompletionOptions { MaxOutputTokenCount = 50_000 },
        }.WithDifyAppId("app-r");

        // The raw options ask for 50,000 output tokens: the reservation is for that, which does not fit; nothing is sent.
        await Assert.ThrowsAsync<DifyBudgetExceededException>(() => client.GetResponseAsync("hello", options));
        Assert.Empty(server.Requests);
        Assert.Equal(0, store.SpentOf(Key("app-r")));
    }

    // 4. An override keyed by an app id longer than 512 characters never matches the normalised id.
    [Fact]
    public async Task LongAppId_OverrideNeverMatches_RequestGoesUnbudgeted()
    {
        string app = new string('a', 600);
        var inner = new CountingChatClient();
        var (sp, _) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 0m }); // 0: refuse every request
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);

        Exception? refused = await Record.ExceptionAsync(() =>
            client.GetResponseAsync("hello", new ChatOptions { ModelId = "gpt-4o-mini", MaxOutputTokens = 100 }.WithDifyAppId(app)));
        output.WriteLine($"refused: {refused?.GetType().Name ?? "no"}; sent {inner.Calls}");
        Assert.IsType<DifyBudgetExceededException>(refused);
    }

}
