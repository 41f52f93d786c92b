using System.Diagnostics.Metrics;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using OpenAI.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace MeaiMetadata.Tests.Diagnostics;

public sealed class DifyMetadataMetricsTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    public void Dispose() => _services.Dispose();

    private MetricCollector<long> Requests() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);

    private MetricCollector<long> Tokens() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.TokenUsageCounter);

    private DifyMetadataChatClient Create(IChatClient inner, DifyMetadataOptions? options = null) => new(inner, options, logger: null, MeterFactory);

    private static (string? Outcome, string? AppId) Single(MetricCollector<long> collector)
    {
        CollectedMeasurement<long> measurement = Assert.Single(collector.GetMeasurementSnapshot());
        Assert.Equal(1, measurement.Value);
        return (measurement.Tags["outcome"] as string, measurement.Tags.TryGetValue("dify.app_id", out object? app) ? app as string : null);
    }

    [Fact]
    public async Task Requests_Attached()
    {
        using MetricCollector<long> requests = Requests();

        using (DifySession.Begin("app"))
        {
            await Create(new OpenAIStandInClient(StandInApi.ChatCompletions)).GetResponseAsync("hi");
        }

        Assert.Equal(("attached", "app"), Single(requests));
    }

    [Fact]
    public async Task Requests_NoSession()
    {
        using MetricCollector<long> requests = Requests();

        await Create(new OpenAIStandInClient(StandInApi.ChatCompletions)).GetResponseAsync("hi");

        Assert.Equal(("no_session", null), Single(requests));
    }

    [Fact]
    public async Task Requests_Disabled()
    {
        using MetricCollector<long> requests = Requests();

        await Create(new OpenAIStandInClient(StandInApi.ChatCompletions), new DifyMetadataOptions { Enabled = false }).GetResponseAsync("hi");

        Assert.Equal(("disabled", null), Single(requests));
    }

    [Fact]
    public async Task Requests_StoreDisabledByRawOptions()
    {
        using MetricCollector<long> requests = Requests();
        var options = new ChatOptions { RawRepresentationFactory = _ => new ChatCompletionOptions { StoredOutputEnabled = false } };

        using (DifySession.Begin("app"))
        {
            await Create(new OpenAIStandInClient(StandInApi.ChatCompletions)).GetResponseAsync("hi", options);
        }

        Assert.Equal(("store_disabled", "app"), Single(requests));
    }

    [Fact]
    public async Task Requests_StoreDisabledByAdditionalProperties()
    {
        using MetricCollector<long> requests = Requests();
        var options = new ChatOptions { AdditionalProperties = new() { ["store"] = false } };

        using (DifySession.Begin("app"))
        {
            await Create(new OpenAIStandInClient(StandInApi.Responses)).GetResponseAsync("hi", options);
        }

        Assert.Equal(("store_disabled", "app"), Single(requests));
    }

    [Fact]
    public async Task Requests_ResolverFailed()
    {
        using MetricCollector<long> requests = Requests();

        await Create(new OpenAIStandInClient(StandInApi.ChatCompletions), new DifyMetadataOptions { AppIdResolver = () => throw new InvalidOperationException() })
            .GetResponseAsync("hi");

        Assert.Equal(("resolver_failed", null), Single(requests));
    }

    [Fact]
    public async Task Requests_UnsupportedProvider_WithoutAdditionalProperties()
    {
        using MetricCollector<long> requests = Requests();
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, options, _) =>
            {
                _ = options?.RawRepresentationFactory?.Invoke(new TestChatClient());
                return Task.FromResult(new ChatResponse());
            },
        };

        using (DifySession.Begin("app"))
        {
            await Create(inner, new DifyMetadataOptions { AdditionalPropertiesEnabled = false }).GetResponseAsync("hi");
        }

        Assert.Equal(("unsupported_provider", "app"), Single(requests));
    }

    [Fact]
    public async Task Requests_CardinalityGuard_ReportsOther()
    {
        using MetricCollector<long> requests = Requests();
        DifyMetadataChatClient client = Create(new OpenAIStandInClient(StandInApi.ChatCompletions), new DifyMetadataOptions { MaxMetricAppIds = 2 });

        foreach (string app in new[] { "a", "b", "c", "a", "d" })
        {
            using (DifySession.Begin(app))
            {
                await client.GetResponseAsync("hi");
            }
        }

        Assert.Equal(["a", "b", "other", "a", "other"], requests.GetMeasurementSnapshot().Select(m => m.Tags["dify.app_id"] as string));
    }

    [Fact]
    public async Task Tokens_NonStreaming_FromUsage()
    {
        using MetricCollector<long> tokens = Tokens();
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"))
            {
                Usage = new UsageDetails { InputTokenCount = 11, OutputTokenCount = 7 },
            }),
            GetServiceCallback = (type, _) => type == typeof(ChatClientMetadata) ? new ChatClientMetadata("test", defaultModelId: "default-model") : null,
        };

        using (DifySession.Begin("app"))
        {
            await Create(inner).GetResponseAsync("hi");
            await Create(inner).GetResponseAsync("hi", new ChatOptions { ModelId = "asked-model" });
        }

        var measured = tokens.GetMeasurementSnapshot()
            .Select(m => (m.Value, App: m.Tags["dify.app_id"], Type: m.Tags["gen_ai.token.type"], Model: m.Tags["gen_ai.request.model"]))
            .ToList();
        Assert.Equal(
            [(11L, "app", "input", "default-model"), (7L, "app", "output", "default-model"), (11L, "app", "input", "asked-model"), (7L, "app", "output", "asked-model")],
            measured.Select(m => (m.Value, (string)m.App!, (string)m.Type!, (string)m.Model!)));
    }

    [Fact]
    public async Task Tokens_Streaming_FromTheUsageUpdate()
    {
        using MetricCollector<long> tokens = Tokens();
        var inner = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, _) => Updates() };

        using (DifySession.Begin("streamer"))
        {
            await foreach (ChatResponseUpdate update in Create(inner).GetStreamingResponseAsync("hi"))
            {
                Assert.NotNull(update);
            }
        }

        Assert.Equal([(13L, "input"), (5L, "output")], tokens.GetMeasurementSnapshot().Select(m => (m.Value, (string)m.Tags["gen_ai.token.type"]!)));
        Assert.All(tokens.GetMeasurementSnapshot(), m => Assert.Equal("streamer", m.Tags["dify.app_id"]));

        static async IAsyncEnumerable<ChatResponseUpdate> Updates()
        {
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, "ok");
            yield return new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { InputTokenCount = 13, OutputTokenCount = 5 })] };
        }
    }

    [Fact]
    public async Task Tokens_StoreDisabled_StillCountedForTheApp()
    {
        using MetricCollector<long> tokens = Tokens();
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse { Usage = new UsageDetails { InputTokenCount = 1, OutputTokenCount = 1 } }),
        };

        using (DifySession.Begin("private-app"))
        {
            await Create(inner).GetResponseAsync("hi", new ChatOptions { AdditionalProperties = new() { ["store"] = false } });
        }

        Assert.Equal(2, tokens.GetMeasurementSnapshot().Count(m => (string?)m.Tags["dify.app_id"] == "private-app"));
    }

    [Fact]
    public async Task Tokens_NoSession_NotCounted()
    {
        using MetricCollector<long> tokens = Tokens();
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse { Usage = new UsageDetails { InputTokenCount = 1 } }),
        };

        await Create(inner).GetResponseAsync("hi");

        Assert.Empty(tokens.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task MeterFromDependencyInjection_IsUsedByUseDifyMetadata()
    {
        var services = new ServiceCollection().AddMetrics();
        services.AddChatClient(new OpenAIStandInClient(StandInApi.ChatCompletions)).UseDifyMetadata();
        await using ServiceProvider provider = services.BuildServiceProvider();
        using var requests = new MetricCollector<long>(provider.GetRequiredService<IMeterFactory>(), DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);

        using (DifySession.Begin("di"))
        {
            await provider.GetRequiredService<IChatClient>().GetResponseAsync("hi");
        }

        Assert.Equal(("attached", "di"), Single(requests));
    }
}
