using System.Diagnostics.Metrics;
using MeaiMetadata.Spend;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace MeaiMetadata.Tests;

/// <summary>The <c>dify.app.cost</c> and <c>dify.app.cost.unpriced</c> counters of the layer, against hand-computed figures.</summary>
public sealed class DifyMetadataChatClientCostTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeLogCollector _logs = new();

    private IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    public void Dispose() => _services.Dispose();

    private MetricCollector<double> Cost() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.CostCounter);

    private MetricCollector<long> Unpriced() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.UnpricedCounter);

    private DifyMetadataChatClient Create(IChatClient inner, DifyMetadataOptions? options = null) =>
        new(inner, options, new FakeLogger(_logs), MeterFactory);

    private static TestChatClient Answering(UsageDetails usage) => new()
    {
        GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")) { Usage = usage }),
    };

    [Fact]
    public async Task CachedInput_AtTheCachedPrice()
    {
        using MetricCollector<double> cost = Cost();

        using (DifySession.Begin("support-bot"))
        {
            // gpt-4o: 2.50 input, 1.25 cached, 10 output. 600 x 2.5 + 400 x 1.25 + 100 x 10 = 1,500 + 500 + 1,000 = 3,000 / 1e6.
            await Create(Answering(new UsageDetails { InputTokenCount = 1_000, CachedInputTokenCount = 400, OutputTokenCount = 100 }))
                .GetResponseAsync("hi", new ChatOptions { ModelId = "gpt-4o" });
        }

        CollectedMeasurement<double> measured = Assert.Single(cost.GetMeasurementSnapshot());
        Assert.Equal(0.003, measured.Value, 12);
        Assert.Equal("support-bot", measured.Tags[DifyMetadataTelemetry.AppIdTag]);
        Assert.Equal("gpt-4o", measured.Tags[DifyMetadataTelemetry.ModelTag]);
    }

    [Fact]
    public async Task Reasoning_PricedAsOutput()
    {
        using MetricCollector<double> cost = Cost();

        using (DifySession.Begin("app"))
        {
            // gpt-5: 1.25 input, 10 output. 1,000 x 1.25 + 3,000 (2,500 reasoning) x 10 = 1,250 + 30,000 = 31,250 / 1e6.
            await Create(Answering(new UsageDetails { InputTokenCount = 1_000, OutputTokenCount = 3_000, ReasoningTokenCount = 2_500 }))
                .GetResponseAsync("hi", new ChatOptions { ModelId = "gpt-5" });
        }

        Assert.Equal(0.03125, Assert.Single(cost.GetMeasurementSnapshot()).Value, 12);
    }

    [Fact]
    public async Task DatedSnapshot_PricedAsItsFamily()
    {
        using MetricCollector<double> cost = Cost();

        using (DifySession.Begin("app"))
        {
            // gpt-4o-mini: 2,000 x 0.15 + 1,000 x 0.6 = 300 + 600 = 900 / 1e6.
            await Create(Answering(new UsageDetails { InputTokenCount = 2_000, OutputTokenCount = 1_000 }))
                .GetResponseAsync("hi", new ChatOptions { ModelId = "gpt-4o-mini-2024-07-18" });
        }

        Assert.Equal(0.0009, Assert.Single(cost.GetMeasurementSnapshot()).Value, 12);
    }

    [Fact]
    public async Task UnknownModel_NoCost_CountedOnceEach_OneWarningPerModel()
    {
        using MetricCollector<double> cost = Cost();
        using MetricCollector<long> unpriced = Unpriced();
        DifyMetadataChatClient client = Create(Answering(new UsageDetails { InputTokenCount = 10, OutputTokenCount = 10 }));

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", new ChatOptions { ModelId = "my-finetune" });
            await client.GetResponseAsync("hi", new ChatOptions { ModelId = "my-finetune" });
            await client.GetResponseAsync("hi", new ChatOptions { ModelId = "other-finetune" });
        }

        Assert.Empty(cost.GetMeasurementSnapshot());
        Assert.Equal(
            [(1L, "my-finetune"), (1L, "my-finetune"), (1L, "other-finetune")],
            unpriced.GetMeasurementSnapshot().Select(m => (m.Value, (string)m.Tags[DifyMetadataTelemetry.ModelTag]!)));
        FakeLogRecord[] warnings = [.. _logs.GetSnapshot().Where(r => r.Level == LogLevel.Warning)];
        Assert.Equal(2, warnings.Length);
        Assert.Contains("'my-finetune'", warnings[0].Message, StringComparison.Ordinal);
        Assert.Contains("'other-finetune'", warnings[1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OptionsPrices_OverrideTheBuiltIn_AliasMapsADeployment()
    {
        using MetricCollector<double> cost = Cost();
        var options = new DifyMetadataOptions();
        options.Prices["gpt-4o-mini"] = new ModelPrice { InputPerMillion = 1m, CachedInputPerMillion = 0.5m, OutputPerMillion = 2m };
        options.ModelAliases["support-prod"] = "gpt-4o-mini";

        using (DifySession.Begin("app"))
        {
            // 1,000 x 1 + 1,000 x 0.5 + 1,000 x 2 = 3,500 / 1e6.
            await Create(Answering(new UsageDetails { InputTokenCount = 2_000, CachedInputTokenCount = 1_000, OutputTokenCount = 1_000 }), options)
                .GetResponseAsync("hi", new ChatOptions { ModelId = "support-prod" });
        }

        CollectedMeasurement<double> measured = Assert.Single(cost.GetMeasurementSnapshot());
        Assert.Equal(0.0035, measured.Value, 12);
        Assert.Equal("support-prod", measured.Tags[DifyMetadataTelemetry.ModelTag]); // the tag is the requested name
    }

    [Fact]
    public async Task Streaming_FromTheUsageUpdateAtTheEnd()
    {
        using MetricCollector<double> cost = Cost();
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, _) => Updates() };

        using (DifySession.Begin("streamer"))
        {
            await foreach (ChatResponseUpdate update in Create(inner).GetStreamingResponseAsync("hi", new ChatOptions { ModelId = "gpt-4.1-mini" }))
            {
                Assert.NotNull(update);
            }
        }

        // gpt-4.1-mini: 0.40 input, 0.10 cached, 1.60 output. 3,000 x 0.4 + 1,000 x 0.1 + 500 x 1.6 = 1,200 + 100 + 800 = 2,100 / 1e6.
        CollectedMeasurement<double> measured = Assert.Single(cost.GetMeasurementSnapshot());
        Assert.Equal(0.0021, measured.Value, 12);
        Assert.Equal("streamer", measured.Tags[DifyMetadataTelemetry.AppIdTag]);

        static async IAsyncEnumerable<ChatResponseUpdate> Updates()
        {
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, "ok");
            yield return new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { InputTokenCount = 4_000, CachedInputTokenCount = 1_000, OutputTokenCount = 500 })] };
        }
    }

    [Fact]
    public async Task OnlyTheCostCounterListened_StillRecorded()
    {
        using MetricCollector<double> cost = Cost(); // nothing listens to the request or token counters

        using (DifySession.Begin("app"))
        {
            await Create(Answering(new UsageDetails { InputTokenCount = 1_000_000, OutputTokenCount = 0 })).GetResponseAsync("hi", new ChatOptions { ModelId = "gpt-4o-mini" });
        }

        Assert.Equal(0.15, Assert.Single(cost.GetMeasurementSnapshot()).Value, 12);
    }

    [Fact]
    public async Task NoSession_NoCost()
    {
        using MetricCollector<double> cost = Cost();

        await Create(Answering(new UsageDetails { InputTokenCount = 10, OutputTokenCount = 10 })).GetResponseAsync("hi", new ChatOptions { ModelId = "gpt-4o" });

        Assert.Empty(cost.GetMeasurementSnapshot());
    }
}
