using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics.Metrics;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.Gateways;
using MeaiMetadata.IntegrationTests.FakeOpenAI;
using MeaiMetadata.IntegrationTests.Wire;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using OpenAI;

#pragma warning disable OPENAI001 // ResponsesClient and AsIChatClient(ResponsesClient) are experimental.

namespace MeaiMetadata.IntegrationTests.Review;

/// <summary>Session 9, second attack, on the fixes of bc84907: gateway headers "exactly when the body is tagged" (BuiltFlag /
/// EndedFlag on the call's one decision), the 'headers never written' Warning (301) that now needs a completed call and a
/// policy reached "for the call", through the official OpenAI SDK and the strict fake server, in tool loops run by a
/// <c>UseFunctionInvocation()</c> inside the layer (one decision for every model request of the loop). Each test asserts a
/// promise of README.md / docs/*.md, so it FAILS where the promise is broken.</summary>
public sealed class Session9SecondAttackTests : IClassFixture<FakeOpenAIServerFixture>, IDisposable
{
    private const string Helicone = "Helicone-Property-Dify-App-Id";

    private readonly FakeOpenAIServer _server;
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public Session9SecondAttackTests(FakeOpenAIServerFixture fixture)
    {
        _server = fixture.Server;
        _server.Clear();
    }

    public void Dispose() => _services.Dispose();

    private IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    private IChatClient Provider(bool responses, Action<OpenAIClientOptions>? configure = null)
    {
        var options = new OpenAIClientOptions { Endpoint = _server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) };
        configure?.Invoke(options);
        var openAI = new OpenAIClient(new ApiKeyCredential("test-key"), options);
        return responses ? openAI.GetResponsesClient().AsIChatClient(OpenAIPipeline.Model) : openAI.GetChatClient(OpenAIPipeline.Model).AsIChatClient();
    }

    /// <summary>The layer outside a tool loop: <c>.UseDifyMetadata().UseFunctionInvocation()</c>.</summary>
    private IChatClient LayerOutsideTheLoop(IChatClient provider, ILogger? logger = null, params string[] gateways)
    {
        var options = new DifyMetadataOptions();
        foreach (string gateway in gateways)
        {
            options.GatewayHeaders.Add(gateway);
        }

        return new ChatClientBuilder(provider)
            .Use(inner => new DifyMetadataChatClient(inner, options, logger, MeterFactory))
            .UseFunctionInvocation()
            .Build();
    }

    // ---- 1. a tool loop whose session ends between its model requests ----

    /// <summary>docs/behaviour.md: "Tokens and cost are recorded for every call of a known app, tagged or not"; README: "with
    /// .UseDifyMetadata().UseFunctionInvocation() the whole tool loop is one [record] (its summed usage)". A loop whose
    /// session ends while its tool runs: the first model request went out tagged <c>dify_app_id: loop-app</c> (OpenAI bills
    /// it to the app), the second, built after the end, untagged. The one record of the loop is <c>no_session</c> with no
    /// tokens at all: the EndedFlag set by the second build throws away the first request's spend (the wire says loop-app
    /// spent, the meter says nobody did).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ToolLoop_SessionEndsDuringTheTool_TheTaggedFirstRequestsTokensAreRecordedForTheApp(bool responses)
    {
        using var tokens = new MetricCollector<long>(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.TokenUsageCounter);
        using var requests = new MetricCollector<long>(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        AIFunction tool = AIFunctionFactory.Create(async () =>
        {
            entered.TrySetResult();
            await release.Task;
            return "sunny";
        }, "get_weather");
        IChatClient client = LayerOutsideTheLoop(Provider(responses));

        Task<ChatResponse> call;
        using (DifySession.Begin("loop-app"))
        {
            call = client.GetResponseAsync("weather?", new ChatOptions { Tools = [tool] });
            await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        } // the session ends while the tool runs (the caller's scope closed; the loop goes on)

        release.SetResult();
        await call;

        Assert.Equal(2, _server.Requests.Count);
        Assert.Equal("loop-app", _server.Requests[0].Metadata!["dify_app_id"]); // billed to the app on the wire
        long recorded = tokens.GetMeasurementSnapshot().Where(m => (string?)m.Tags[DifyMetadataTelemetry.AppIdTag] == "loop-app").Sum(m => m.Value);
        Assert.True(recorded > 0, $"tokens recorded for loop-app: {recorded}; outcomes: " +
            string.Join(",", requests.GetMeasurementSnapshot().Select(m => (string?)m.Tags[DifyMetadataTelemetry.OutcomeTag]))); // observed: 0; outcomes: no_session
    }

    /// <summary>docs/behaviour.md: "An ended session tags nothing, also in work that captured it and runs later"; docs/gateways.md:
    /// "A request carries them exactly when its body is tagged ... before any build, only while the session lasts". In the same
    /// loop, the tool's own HTTP call (through <c>AddDifyGatewayHeaders()</c>) made after the session ended carries the app's
    /// gateway headers, while the loop's next model request, made a moment later, carries neither body tag nor headers. The
    /// tool's request got them only because an EARLIER request of the call had been built (BuiltFlag is per decision, not per
    /// request): the same tool call in a loop whose session ended before the first build sends none.</summary>
    [Fact]
    public async Task ToolLoop_SessionEndedDuringTheTool_TheToolsLaterHttpCallCarriesNoHeaders()
    {
        var capture = new CaptureHandler();
        using var http = new HttpClient(new DifyGatewayHeadersHandler(capture));
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        AIFunction tool = AIFunctionFactory.Create(async () =>
        {
            entered.TrySetResult();
            await release.Task;
            (await http.GetAsync(new Uri("http://127.0.0.1/weather"))).Dispose(); // after the session ended
            return "sunny";
        }, "get_weather");
        IChatClient client = LayerOutsideTheLoop(Provider(responses: false, o => o.AddDifyMetadataHeaders()), null, "Helicone");

        Task<ChatResponse> call;
        using (DifySession.Begin("loop-app"))
        {
            call = client.GetResponseAsync("weather?", new ChatOptions { Tools = [tool] });
            await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }

        release.SetResult();
        await call;

        Assert.Equal("loop-app", _server.Requests[0].Header(Helicone)); // built and sent in the session: both
        Assert.Null(_server.Requests[1].Metadata?.GetValueOrDefault("dify_app_id")); // built after the end: neither
        Assert.Null(_server.Requests[1].Header(Helicone));
        Assert.Null(capture.Helicone); // observed: "loop-app"
    }

    // ---- 2. the "configured but never written" Warning (301) ----

    /// <summary>Reported: the OpenAI client lacks AddDifyMetadataHeaders(), and a tool of the loop calls an internal API through
    /// an HttpClient with AddDifyGatewayHeaders(): the handler reached a request of the call, so the missing policy on the
    /// model's client is not reported. Documented (docs/gateways.md): the warning cannot tell the model's request from a
    /// tool's. Pinned so that a change is a decision.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ModelClientWithoutThePolicy_AToolsHttpClientHasIt_NoWarning_AsDocumented(bool responses)
    {
        var logger = new FakeLogger();
        var capture = new CaptureHandler();
        using var http = new HttpClient(new DifyGatewayHeadersHandler(capture));
        AIFunction tool = AIFunctionFactory.Create(async () =>
        {
            (await http.GetAsync(new Uri("http://127.0.0.1/inventory"))).Dispose();
            return "sunny";
        }, "get_weather");
        IChatClient client = LayerOutsideTheLoop(Provider(responses), logger, "Helicone"); // no AddDifyMetadataHeaders()

        using (DifySession.Begin("loop-app"))
        {
            await client.GetResponseAsync("weather?", new ChatOptions { Tools = [tool] });
        }

        Assert.All(_server.Requests, r => Assert.Null(r.Header(Helicone))); // no gateway received the app
        Assert.Equal("loop-app", capture.Helicone); // the internal API did
        Assert.DoesNotContain(logger.Collector.GetSnapshot(), r => r.Id.Id == 301);
    }

    /// <summary>Held (the control of the test above): the same loop and client, the tool sending nothing: the Warning fires.</summary>
    [Fact]
    public async Task ModelClientWithoutThePolicy_ToolSendsNothing_TheWarningFires()
    {
        var logger = new FakeLogger();
        AIFunction tool = AIFunctionFactory.Create(() => "sunny", "get_weather");
        IChatClient client = LayerOutsideTheLoop(Provider(responses: false), logger, "Helicone");

        using (DifySession.Begin("loop-app"))
        {
            await client.GetResponseAsync("weather?", new ChatOptions { Tools = [tool] });
        }

        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Id.Id == 301);
    }

    private sealed class CaptureHandler : HttpMessageHandler
    {
        public string? Helicone { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Helicone = request.Headers.TryGetValues(Session9SecondAttackTests.Helicone, out IEnumerable<string>? values) ? string.Join(",", values) : null;
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));
        }
    }
}
