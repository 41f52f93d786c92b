using System.Diagnostics.Metrics;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using OpenAI.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace MeaiMetadata.Tests;

/// <summary>The seven defects issue 19's review found, one test each (each failed on the code before the small core).</summary>
public sealed class ReviewDefectsTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    public void Dispose() => _services.Dispose();

    private MetricCollector<long> Tokens() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.TokenUsageCounter);

    private MetricCollector<long> Requests() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);

    /// <summary>Defect 1: a tool's sub-request made with <c>FunctionInvokingChatClient.CurrentContext.Options</c> under
    /// <c>.UseDifyMetadata().UseFunctionInvocation()</c> has its tokens recorded too (3 model requests, 3 costed).</summary>
    [Fact]
    public async Task ToolSubRequest_WithTheLoopsOptions_ItsTokensAreRecorded()
    {
        using MetricCollector<long> tokens = Tokens();
        int sent = 0;
        IChatClient client = null!;
        var inner = new TestChatClient
        {
            GetServiceCallback = (type, _) => type == typeof(ChatClient) ? new OpenAIStandInClient(StandInApi.ChatCompletions).GetService(type) : null,
            GetResponseAsyncCallback = (messages, options, ct) =>
            {
                _ = options?.RawRepresentationFactory?.Invoke(new OpenAIStandInClient(StandInApi.ChatCompletions));
                Interlocked.Increment(ref sent);
                bool answered = messages.Any(m => m.Contents.OfType<FunctionResultContent>().Any()) || messages.Any(m => m.Text == "sub");
                ChatMessage reply = answered ? new(ChatRole.Assistant, "ok") : new(ChatRole.Assistant, [new FunctionCallContent("c1", "lookup")]);
                return Task.FromResult(new ChatResponse(reply) { Usage = new UsageDetails { InputTokenCount = 10, OutputTokenCount = 1 } });
            },
        };
        AIFunction tool = AIFunctionFactory.Create(
            async () => (await client.GetResponseAsync("sub", FunctionInvokingChatClient.CurrentContext!.Options)).Text, "lookup");
        client = new ChatClientBuilder(inner).UseDifyMetadata().UseFunctionInvocation().Build(_services.CreateScope().ServiceProvider);

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", new ChatOptions { Tools = [tool] });
        }

        Assert.Equal(3, sent);
        long input = tokens.GetMeasurementSnapshot().Where(m => (string?)m.Tags[DifyMetadataTelemetry.TokenTypeTag] == "input").Sum(m => m.Value);
        Assert.Equal(30, input); // every model request's tokens, the sub-request's included
    }

    /// <summary>Defect 2: cost is priced by the model the response names (then the request's), not the model the layer saw.</summary>
    [Fact]
    public async Task ModelChangedInsideTheLayer_PricedByTheResponsesModel()
    {
        using var cost = new MetricCollector<double>(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.CostCounter);
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, options, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"))
            {
                ModelId = options?.ModelId, // as OpenAI answers: the model that ran
                Usage = new UsageDetails { InputTokenCount = 1_000_000, OutputTokenCount = 0 },
            }),
        };
        IChatClient client = new ChatClientBuilder(inner)
            .UseDifyMetadata()
            .ConfigureOptions(o => o.ModelId = "gpt-4o")
            .Build(_services);

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", new ChatOptions { ModelId = "gpt-4o-mini" });
        }

        CollectedMeasurement<double> measured = Assert.Single(cost.GetMeasurementSnapshot());
        Assert.Equal(2.5, measured.Value, 9); // gpt-4o's input price, not gpt-4o-mini's 0.15
        Assert.Equal("gpt-4o-mini", measured.Tags[DifyMetadataTelemetry.ModelTag]); // gen_ai.request.model: what the layer was asked for
    }

    /// <summary>Defect 3: two nested layers, the inner one switched off: the request is recorded once, by the outer one.</summary>
    [Fact]
    public async Task NestedLayers_InnerSwitchedOff_OneRecord()
    {
        using MetricCollector<long> requests = Requests();
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        IChatClient client = new DifyMetadataChatClient(
            new DifyMetadataChatClient(inner, new DifyMetadataOptions { Enabled = false }, meterFactory: MeterFactory), meterFactory: MeterFactory);

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        CollectedMeasurement<long> only = Assert.Single(requests.GetMeasurementSnapshot());
        Assert.Equal("attached", only.Tags[DifyMetadataTelemetry.OutcomeTag]);
        Assert.Equal("app", inner.LastChat.Metadata["dify_app_id"]);
    }

    /// <summary>Nested layers that do not decide a call (no session, or the outer one switched off) count it once: the innermost
    /// layer counts it (seen before: one count per layer).</summary>
    [Theory]
    [InlineData(false, true, "no_session")]
    [InlineData(false, false, "no_session")]
    [InlineData(true, false, "attached")] // the outer layer is off, the inner one tags in the session
    public async Task NestedLayers_AnUndecidedCall_IsCountedOnce(bool inSession, bool outerEnabled, string outcome)
    {
        using MetricCollector<long> requests = Requests();
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        IChatClient client = new DifyMetadataChatClient(
            new DifyMetadataChatClient(inner, meterFactory: MeterFactory), new DifyMetadataOptions { Enabled = outerEnabled }, meterFactory: MeterFactory);

        using (inSession ? DifySession.Begin("app") : null)
        {
            await client.GetResponseAsync("hi");
        }

        CollectedMeasurement<long> only = Assert.Single(requests.GetMeasurementSnapshot());
        Assert.Equal(outcome, only.Tags[DifyMetadataTelemetry.OutcomeTag]);
    }

    /// <summary>Defect 4: a throwing meter listener never fails a request, also one made outside a session.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ThrowingMeterListener_RequestStillSucceeds(bool inSession)
    {
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == DifyMetadataTelemetry.MeterName && instrument.Meter.Scope == MeterFactory) // this test's meter only: tests run in parallel
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, _, _) => throw new InvalidOperationException("listener"));
        listener.SetMeasurementEventCallback<double>((_, _, _, _) => throw new InvalidOperationException("listener"));
        listener.Start();
        var logs = new FakeLogCollector();
        var client = new DifyMetadataChatClient(new OpenAIStandInClient(StandInApi.ChatCompletions), null, new FakeLogger(logs), MeterFactory);

        using (inSession ? DifySession.Begin("app") : null)
        {
            ChatResponse response = await client.GetResponseAsync("hi");
            Assert.Equal("ok", response.Text);
        }

        Assert.Contains(logs.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("meter", StringComparison.Ordinal));
    }

    /// <summary>Defect 5: a blank app id means no app, wherever it comes from (the ASP.NET Core package's rule).</summary>
    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\n")]
    public async Task BlankAppId_NoApp_FromEverySource(string blank)
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdResolver = () => blank });

        using (DifySession.Begin(blank))
        {
            await client.GetResponseAsync("hi");
            Assert.Empty(inner.LastChat.Metadata);
        }

        await client.GetResponseAsync("hi");
        Assert.Empty(inner.LastChat.Metadata);
        await client.GetResponseAsync("hi", new ChatOptions().WithDifyAppId(blank));
        Assert.Empty(inner.LastChat.Metadata);
        Assert.False(inner.LastOptions?.AdditionalProperties?.ContainsKey(DifyMetadataKeys.AppIdProperty) ?? false);

        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1/");
        using (DifySession.Begin(blank, propagateAsBaggage: true))
        {
            Assert.Null(MeaiMetadata.Http.DifyBaggageHandler.AddBaggage(request));
        }

        Assert.False(request.Headers.Contains("baggage"));
    }

    /// <summary>Defect 6: the caller's <c>AdditionalProperties["metadata"]</c> pairs reach the OpenAI wire, merged.</summary>
    [Theory]
    [InlineData(StandInApi.ChatCompletions)]
    [InlineData(StandInApi.Responses)]
    public async Task CallerAdditionalPropertiesMetadata_ReachesTheWire(StandInApi api)
    {
        var inner = new OpenAIStandInClient(api);
        var client = new DifyMetadataChatClient(inner);
        var options = new ChatOptions { AdditionalProperties = new() { ["metadata"] = new Dictionary<string, string> { ["team"] = "search", ["dify_app_id"] = "spoof" } } };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.Equal(
            new Dictionary<string, string> { ["team"] = "search", ["dify_app_id"] = "app", ["dify_source"] = "dify" },
            RawMetadata.Of(inner.LastRaw).ToDictionary(p => p.Key, p => p.Value));
    }

    /// <summary>Defect 7: the "unpriced model" warning comes once per model, however many pipelines a scope builds.</summary>
    [Fact]
    public async Task UnpricedModel_OneWarning_AcrossScopedPipelines()
    {
        var logs = new FakeLogCollector();
        var services = new ServiceCollection()
            .AddMetrics()
            .AddLogging(b => b.AddProvider(new FakeLoggerProvider(logs)));
        services.AddChatClient(
            new TestChatClient
            {
                GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"))
                {
                    Usage = new UsageDetails { InputTokenCount = 1, OutputTokenCount = 1 },
                }),
            },
            ServiceLifetime.Scoped).UseDifyMetadata();
        using ServiceProvider provider = services.BuildServiceProvider();
        using var listened = new MetricCollector<long>(provider.GetRequiredService<IMeterFactory>(), DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.UnpricedCounter);

        for (int i = 0; i < 3; i++)
        {
            using IServiceScope scope = provider.CreateScope();
            using (DifySession.Begin("app"))
            {
                await scope.ServiceProvider.GetRequiredService<IChatClient>().GetResponseAsync("hi", new ChatOptions { ModelId = "my-finetune" });
            }
        }

        Assert.Equal(3, listened.GetMeasurementSnapshot().Count);
        Assert.Single(logs.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("'my-finetune'", StringComparison.Ordinal));
    }
}
