using System.ClientModel;
using System.ClientModel.Primitives;
using MeaiMetadata.Demo;
using MeaiMetadata.FakeOpenAI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace MeaiMetadata.IntegrationTests.Demo;

/// <summary>
/// The demo scenario exported through the OpenTelemetry SDK as the README's Operations section sets it up. The SDK listens
/// by meter name to the whole process, so this class runs in <see cref="SerialTests"/>, alone.
/// </summary>
[Collection(SerialTests.Name)]
public sealed class DemoOpenTelemetryExportTests
{
    [Fact]
    public async Task DemoScenario_ExportsExactPerAppRequestsTokensAndCost()
    {
        // The README's Operations set-up: the OpenTelemetry SDK subscribed to the MeaiMetadata meter.
        var exported = new List<Metric>();
        using MeterProvider meterProvider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(DifyMetadataTelemetry.MeterName)
            .AddInMemoryExporter(exported)
            .Build();
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync();
        var openAI = new OpenAIClient(new ApiKeyCredential("k"), new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });
        await using ServiceProvider services = DemoPipeline.Build(openAI, DemoArguments.DefaultModel, verbose: false);

        await DemoRunner.RunAsync(services, new EndpointWireLog(server));
        meterProvider.ForceFlush();

        Dictionary<(string? App, string? Type), long> tokens = Sums(exported, DifyMetadataTelemetry.TokenUsageCounter, "gen_ai.token.type");
        Assert.Equal(25, tokens[("support-bot", "input")]);
        Assert.Equal(15, tokens[("support-bot", "output")]);
        Assert.Equal(25, tokens[("sales-assistant", "input")]);
        Assert.Equal(15, tokens[("sales-assistant", "output")]);
        Assert.Equal(4, tokens.Count);

        Dictionary<(string? App, string? Type), long> requests = Sums(exported, DifyMetadataTelemetry.RequestsCounter, "outcome");
        Assert.Equal(5, requests[("support-bot", "attached")]);
        Assert.Equal(4, requests[("sales-assistant", "attached")]);
        Assert.Equal(1, requests[("sales-assistant", "store_disabled")]);
        Assert.Equal(1, requests[(null, "no_session")]);
        Assert.Equal(4, requests.Count); // nothing else: no other outcome, no "other" app, no OpenTelemetry overflow series

        // dify.app.cost: every request 5 input and 3 output tokens of gpt-4o-mini, 5 x 0.15 + 3 x 0.6 = 2.55 per million;
        // 5 requests of each app (store=false included), none for the request outside any session.
        var cost = new Dictionary<string, double>();
        foreach (Metric metric in exported.Where(m => m.Name == DifyMetadataTelemetry.CostCounter))
        {
            Assert.Equal("USD", metric.Unit);
            foreach (ref readonly MetricPoint point in metric.GetMetricPoints())
            {
                foreach (KeyValuePair<string, object?> t in point.Tags)
                {
                    if (t.Key == DifyMetadataTelemetry.AppIdTag)
                    {
                        cost[(string)t.Value!] = cost.GetValueOrDefault((string)t.Value!) + point.GetSumDouble();
                    }
                }
            }
        }

        Assert.Equal(["sales-assistant", "support-bot"], cost.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(5 * 2.55e-6, cost["support-bot"], 1e-12);
        Assert.Equal(5 * 2.55e-6, cost["sales-assistant"], 1e-12);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ManyApps_TheReadmeCardinalityView_KeepsEverySeries(bool withReadmeView)
    {
        // README, Operations: 2,500 apps × 2 token types exceed the SDK's default 2,000 series per metric; the view lifts it.
        const int Apps = 2_500;
        var exported = new List<Metric>();
        MeterProviderBuilder builder = Sdk.CreateMeterProviderBuilder().AddMeter(DifyMetadataTelemetry.MeterName).AddInMemoryExporter(exported);
        if (withReadmeView)
        {
            builder.AddView("dify.*", new MetricStreamConfiguration { CardinalityLimit = 20_000 });
        }

        using MeterProvider meterProvider = builder.Build();
        using var client = new DifyMetadataChatClient(new UsageReportingClient(), new DifyMetadataOptions { MaxMetricAppIds = Apps });
        for (int i = 0; i < Apps; i++)
        {
            using (DifySession.Begin($"app-{i}"))
            {
                await client.GetResponseAsync("hi");
            }
        }

        meterProvider.ForceFlush();

        Dictionary<(string? App, string? Type), long> tokens = Sums(exported, DifyMetadataTelemetry.TokenUsageCounter, "gen_ai.token.type");
        if (withReadmeView)
        {
            Assert.Equal(2 * Apps, tokens.Count);
            Assert.All(tokens.Values, v => Assert.Equal(1, v));
        }
        else
        {
            Assert.True(tokens.Count < 2 * Apps, $"{tokens.Count} series: the SDK's default limit no longer folds any");
            Assert.Equal(2 * Apps, tokens.Values.Sum()); // folded into the overflow series, not lost
        }
    }

    /// <summary>An inner client that answers every request with one input and one output token.</summary>
    private sealed class UsageReportingClient : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")) { Usage = new() { InputTokenCount = 1, OutputTokenCount = 1 } });

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    /// <summary>Sums the exported points of one counter by (dify.app_id, <paramref name="tag"/>), over every exported point.</summary>
    private static Dictionary<(string? App, string? Type), long> Sums(List<Metric> exported, string counter, string tag)
    {
        var sums = new Dictionary<(string? App, string? Type), long>();
        foreach (Metric metric in exported.Where(m => m.Name == counter))
        {
            foreach (ref readonly MetricPoint point in metric.GetMetricPoints())
            {
                string? app = null, value = null;
                foreach (KeyValuePair<string, object?> t in point.Tags)
                {
                    if (t.Key == DifyMetadataTelemetry.AppIdTag)
                    {
                        app = t.Value as string;
                    }
                    else if (t.Key == tag)
                    {
                        value = t.Value as string;
                    }
                }

                sums[(app, value)] = sums.GetValueOrDefault((app, value)) + point.GetSumLong();
            }
        }

        return sums;
    }
}
