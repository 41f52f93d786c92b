using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics.Metrics;
using MeaiMetadata.FakeOpenAI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using OpenAI;
using OpenAI.Chat;

namespace MeaiMetadata.SpendTool.Tests;

/// <summary>The report over the strict fake's Stored Completions, through the official SDK's paging.</summary>
public sealed class DifySpendReportTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    private static ChatClient Client(FakeOpenAIServer server) =>
        new OpenAIClient(new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) })
            .GetChatClient("gpt-4o-mini");

    /// <summary>1,000 completions of 3 apps, one a minute from <see cref="Start"/>: app i % 3, model gpt-4o-mini (dated
    /// snapshot) for even i, gpt-4o for odd i; 100 input tokens (20 cached) and 10 output tokens each.</summary>
    private static async Task<FakeOpenAIServer> SeededAsync()
    {
        FakeOpenAIServer server = await FakeOpenAIServer.StartAsync();
        string[] apps = ["alpha", "beta", "gamma"];
        for (int i = 0; i < 1_000; i++)
        {
            server.AddStoredCompletion(new StoredCompletion
            {
                Id = $"chatcmpl-{i:D4}",
                Created = Start.AddMinutes(i).ToUnixTimeSeconds(),
                Model = i % 2 == 0 ? "gpt-4o-mini-2024-07-18" : "gpt-4o",
                Metadata = new Dictionary<string, string> { ["dify_app_id"] = apps[i % 3], ["dify_source"] = "dify" },
                PromptTokens = 100,
                CachedTokens = 20,
                CompletionTokens = 10,
            });
        }

        return server;
    }

    [Fact]
    public async Task PagesThrough1000Completions_Of3Apps_WithExactTotals()
    {
        await using FakeOpenAIServer server = await SeededAsync();
        var pages = new List<int>();

        DifySpendReport report = await DifySpendReport.FromStoredCompletionsAsync(
            Client(server), new DifySpendReportOptions { Since = Start }, new SyncProgress(pages.Add));

        Assert.Equal(1_000, report.Read);
        Assert.Equal([100, 200, 300, 400, 500, 600, 700, 800, 900, 1_000], pages); // ten pages of 100
        // alpha (i % 3 == 0): 334, of which even (i % 6 == 0: 0..996) 167; beta (1): 333, even (i % 6 == 4: 4..994) 166;
        // gamma (2): 333, even (i % 6 == 2: 2..998) 167. Even i is the gpt-4o-mini snapshot.
        Assert.Equal(
            [("alpha", "gpt-4o", 167L), ("alpha", "gpt-4o-mini-2024-07-18", 167L), ("beta", "gpt-4o", 167L), ("beta", "gpt-4o-mini-2024-07-18", 166L),
             ("gamma", "gpt-4o", 166L), ("gamma", "gpt-4o-mini-2024-07-18", 167L)],
            report.Rows.Select(r => (r.AppId!, r.Model, r.Requests)));
        Assert.All(report.Rows, r => Assert.Equal((r.Requests * 100, r.Requests * 20, r.Requests * 10), (r.InputTokens, r.CachedInputTokens, r.OutputTokens)));

        // Per completion: gpt-4o-mini 80 x 0.15 + 20 x 0.075 + 10 x 0.6 = 12 + 1.5 + 6 = 19.5 / 1e6 = 0.0000195;
        // gpt-4o 80 x 2.5 + 20 x 1.25 + 10 x 10 = 200 + 25 + 100 = 325 / 1e6 = 0.000325.
        DifySpendRow alphaMini = report.Rows[1];
        Assert.Equal(167 * 0.0000195m, alphaMini.Cost);
        Assert.Equal(167 * 0.000325m, report.Rows[0].Cost);
        Assert.Equal((500 * 0.0000195m) + (500 * 0.000325m), report.TotalCost); // 500 even, 500 odd: 0.00975 + 0.1625 = 0.17225
        Assert.Equal(0.17225m, report.TotalCost);
    }

    [Fact]
    public async Task StopsPastTheStartOfTheRange_AndHonorsUntil()
    {
        await using FakeOpenAIServer server = await SeededAsync();

        // Completions 900..949 (until is exclusive); paging newest first stops on the page that reaches 899.
        DifySpendReport report = await DifySpendReport.FromStoredCompletionsAsync(
            Client(server), new DifySpendReportOptions { Since = Start.AddMinutes(900), Until = Start.AddMinutes(950), PageSize = 100 });

        Assert.Equal(50, report.Rows.Sum(r => r.Requests));
        Assert.Equal(101, report.Read); // the first page (999..900) and the first item of the second
    }

    [Fact]
    public async Task OneApp_FilteredByMetadata()
    {
        await using FakeOpenAIServer server = await SeededAsync();

        DifySpendReport report = await DifySpendReport.FromStoredCompletionsAsync(
            Client(server), new DifySpendReportOptions { Since = Start, AppId = "beta", PageSize = 50 });

        Assert.Equal(333, report.Read);
        Assert.All(report.Rows, r => Assert.Equal("beta", r.AppId));
        Assert.Equal(333, report.Rows.Sum(r => r.Requests));
    }

    [Fact]
    public async Task UnknownModel_RowWithoutCost()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync();
        server.AddStoredCompletion(new StoredCompletion { Id = "chatcmpl-1", Created = Start.ToUnixTimeSeconds(), Model = "my-finetune", PromptTokens = 5, CompletionTokens = 5 });

        DifySpendReport report = await DifySpendReport.FromStoredCompletionsAsync(Client(server), new DifySpendReportOptions { Since = Start });

        DifySpendRow row = Assert.Single(report.Rows);
        Assert.Null(row.AppId);
        Assert.Null(row.Cost);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task MeterAndReport_Agree_ForRealRequestsWithCachedInput(bool streaming)
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { InputTokens = 1_000, CachedInputTokens = 400, OutputTokens = 300, ReasoningTokens = 200 });
        await using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var cost = new MetricCollector<double>(services.GetRequiredService<IMeterFactory>(), DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.CostCounter);
        IChatClient client = new ChatClientBuilder(OpenAIPipeline.ProviderClient(server, WireApi.ChatCompletions)).UseDifyMetadata().Build(services);
        DateTimeOffset since = DateTimeOffset.UtcNow.AddMinutes(-1);

        foreach (string app in new[] { "alpha", "beta", "alpha" })
        {
            using (DifySession.Begin(app))
            {
                await OpenAIPipeline.SendAsync(client, streaming, new ChatOptions { ModelId = "gpt-4o-mini" });
            }
        }

        DifySpendReport report = await DifySpendReport.FromStoredCompletionsAsync(Client(server), new DifySpendReportOptions { Since = since });

        // gpt-4o-mini: 600 x 0.15 + 400 x 0.075 + 300 (200 reasoning) x 0.6 = 90 + 30 + 180 = 300 / 1e6 per request.
        Assert.Equal([("alpha", 2 * 0.0003m), ("beta", 0.0003m)], report.Rows.Select(r => (r.AppId!, r.Cost!.Value)));
        var metered = cost.GetMeasurementSnapshot().GroupBy(m => (string)m.Tags[DifyMetadataTelemetry.AppIdTag]!).ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        Assert.Equal(0.0006, metered["alpha"], 12);
        Assert.Equal(0.0003, metered["beta"], 12);
    }

    [Fact]
    public async Task Responses_CostFromTheMeter_NotListed()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { InputTokens = 1_000, CachedInputTokens = 400, OutputTokens = 300, ReasoningTokens = 200 });
        await using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var cost = new MetricCollector<double>(services.GetRequiredService<IMeterFactory>(), DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.CostCounter);
        IChatClient client = new ChatClientBuilder(OpenAIPipeline.ProviderClient(server, WireApi.Responses)).UseDifyMetadata().Build(services);

        using (DifySession.Begin("alpha"))
        {
            await OpenAIPipeline.SendAsync(client, streaming: false);
            await OpenAIPipeline.SendAsync(client, streaming: true);
        }

        // Same usage as above on gpt-4o-mini: 0.0003 per response, cached input from input_tokens_details.
        Assert.Equal([0.0003, 0.0003], cost.GetMeasurementSnapshot().Select(m => Math.Round(m.Value, 12)));
        Assert.Empty(server.StoredCompletions); // the Responses API has no list endpoint
    }

    private sealed class SyncProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
