using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics.Metrics;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.IntegrationTests.Wire;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using OpenAI;

#pragma warning disable OPENAI001 // ResponsesClient and AsIChatClient(ResponsesClient) are experimental.

namespace MeaiMetadata.IntegrationTests;

/// <summary>A fresh reviewer's attacks on the small core (cf2357f), through the official OpenAI SDK against the strict fake.</summary>
public sealed class ReviewAttackWireTests : IAsyncLifetime
{
    private readonly ServiceProvider _metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private FakeOpenAIServer _server = null!;

    private IMeterFactory MeterFactory => _metrics.GetRequiredService<IMeterFactory>();

    public async Task InitializeAsync() => _server = await FakeOpenAIServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _metrics.DisposeAsync();
    }

    private IChatClient Provider(WireApi api, bool headersPolicy)
    {
        var options = new OpenAIClientOptions { Endpoint = _server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) };
        if (headersPolicy)
        {
            options.AddDifyMetadataHeaders();
        }

        var openAI = new OpenAIClient(new ApiKeyCredential("test-key"), options);
        return api == WireApi.ChatCompletions
            ? openAI.GetChatClient(OpenAIPipeline.Model).AsIChatClient()
            : openAI.GetResponsesClient().AsIChatClient(OpenAIPipeline.Model);
    }

    /// <summary>Regression: two stacked layers for the same app (docs: "the inner layer passes the request on as it is") — the
    /// gateway header no longer reaches the wire, and the outer layer logs the misleading "add AddDifyMetadataHeaders()"
    /// Warning though the policy is there. On cc35b38 the header was sent.</summary>
    [Theory]
    [InlineData(WireApi.ChatCompletions, false)]
    [InlineData(WireApi.Responses, true)]
    public async Task StackedLayers_SameApp_GatewayHeaderOnTheWire(WireApi api, bool streaming)
    {
        var logs = new FakeLogCollector();
        var services = new ServiceCollection().AddLogging(b => b.AddProvider(new FakeLoggerProvider(logs))).BuildServiceProvider();
        IChatClient client = new ChatClientBuilder(Provider(api, headersPolicy: true))
            .UseDifyMetadata(o => o.GatewayHeaders.Add("Helicone"))
            .UseDifyMetadata(o => o.GatewayHeaders.Add("Helicone"))
            .Build(services);

        using (DifySession.Begin("support-bot"))
        {
            await OpenAIPipeline.SendAsync(client, streaming);
        }

        RecordedRequest sent = Assert.Single(_server.Requests);
        Assert.Equal("support-bot", sent.Metadata!["dify_app_id"]);
        Assert.Equal("support-bot", sent.Header("Helicone-Property-Dify-App-Id")); // observed: null
        Assert.DoesNotContain(logs.GetSnapshot(), r => r.Level == LogLevel.Warning); // observed: the GatewayHeadersNotSent Warning
    }

    /// <summary>"An ended session tags nothing, also in work that captured it and runs later" / "A stream enumerated after its
    /// session ended carries none": what reaches the wire depends on whether anything listens to the meter.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StreamEnumeratedAfterTheSessionEnded_Untagged_WhetherOrNotTheMeterIsListened(bool listened)
    {
        using MetricCollector<long>? requests = listened ? new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter) : null;
        IChatClient client = new DifyMetadataChatClient(Provider(WireApi.ChatCompletions, false), meterFactory: MeterFactory);

        IAsyncEnumerable<ChatResponseUpdate> stream;
        using (DifySession.Begin("support-bot"))
        {
            stream = client.GetStreamingResponseAsync("hello");
        }

        await stream.ToChatResponseAsync();

        RecordedRequest sent = Assert.Single(_server.Requests);
        Assert.Equal(200, sent.StatusCode);
        Assert.Null(sent.Metadata); // observed without a listener: {dify_app_id: support-bot, dify_source: dify}, store true
    }

    /// <summary>The "GatewayHeaders configured but no request went out through the header policy" Warning, with the policy
    /// in place: a response served by a cache layer inside the layer makes it fire.</summary>
    [Fact]
    public async Task GatewayWarning_NotLoggedWhenACacheLayerAnswers()
    {
        var logs = new FakeLogCollector();
        var services = new ServiceCollection().AddLogging(b => b.AddProvider(new FakeLoggerProvider(logs))).BuildServiceProvider();
        IDistributedCache cache = new MemoryDistributedCache(Microsoft.Extensions.Options.Options.Create(new MemoryDistributedCacheOptions()));
        IChatClient client = new ChatClientBuilder(Provider(WireApi.ChatCompletions, headersPolicy: true))
            .UseDifyMetadata(o => o.GatewayHeaders.Add("LiteLLM"))
            .UseDistributedCache(cache)
            .Build(services);

        using (DifySession.Begin("support-bot"))
        {
            await client.GetResponseAsync("hello"); // to the wire, with the header
            await client.GetResponseAsync("hello"); // from the cache
        }

        RecordedRequest sent = Assert.Single(_server.Requests);
        Assert.NotNull(sent.Header("x-litellm-tags"));
        Assert.DoesNotContain(logs.GetSnapshot(), r => r.Level == LogLevel.Warning); // observed: the Warning, on the cache hit
    }

    /// <summary>"Every call: one record" — the caller's RawRepresentationFactory throws: the non-streaming call is counted,
    /// the streaming one is not (MEAI.OpenAI calls the factory when the stream is opened, before the layer's try).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CallersFactoryThrows_CallRecordedOnce(bool streaming)
    {
        using var requests = new MetricCollector<long>(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);
        IChatClient client = new DifyMetadataChatClient(Provider(WireApi.ChatCompletions, false), meterFactory: MeterFactory);
        var options = new ChatOptions { RawRepresentationFactory = _ => throw new InvalidOperationException("caller's factory") };

        using (DifySession.Begin("support-bot"))
        {
            _ = await Assert.ThrowsAsync<InvalidOperationException>(() => OpenAIPipeline.SendAsync(client, streaming, options));
        }

        Assert.Empty(_server.Requests);
        Assert.Single(requests.GetMeasurementSnapshot()); // observed for streaming: none
    }

    /// <summary>"A model request that a tool makes through a client with the layer is that layer's own call and its own
    /// record": a tool that answers with a second client (its own UseDifyMetadata) and the loop's options. Three tagged
    /// requests on the wire; the sub-request's tokens are never recorded (defect 1 through a second pipeline).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ToolSubRequestThroughASecondClient_Recorded(bool streaming)
    {
        using var tokens = new MetricCollector<long>(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.TokenUsageCounter);
        IChatClient helper = new ChatClientBuilder(Provider(WireApi.ChatCompletions, false)).UseDifyMetadata().Build(_metrics);
        AIFunction tool = AIFunctionFactory.Create(
            async () => (await helper.GetResponseAsync("summarise", FunctionInvokingChatClient.CurrentContext!.Options)).Text,
            "get_weather");
        IChatClient client = new ChatClientBuilder(Provider(WireApi.ChatCompletions, false)).UseDifyMetadata().UseFunctionInvocation().Build(_metrics);

        using (DifySession.Begin("support-bot"))
        {
            await OpenAIPipeline.SendAsync(client, streaming, new ChatOptions { Tools = [tool] }, "weather?");
        }

        Assert.Equal(3, _server.Requests.Count);
        Assert.All(_server.Requests, r => Assert.Equal("support-bot", r.Metadata!["dify_app_id"]));
        long input = tokens.GetMeasurementSnapshot().Where(m => (string?)m.Tags[DifyMetadataTelemetry.TokenTypeTag] == "input").Sum(m => m.Value);
        Assert.Equal(3 * 5, input); // observed: 10, the wire request of the tool's client is never recorded
    }

}
