using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics.Metrics;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.IntegrationTests.FakeOpenAI;
using MeaiMetadata.IntegrationTests.Wire;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using OpenAI;

namespace MeaiMetadata.IntegrationTests.Review;

/// <summary>Session 9 attack on the gateway headers that now read the call's decision at send time (GatewayScope holds the
/// decision; headers go out while it is InCall and its session has not ended), through the official OpenAI SDK and the
/// strict fake server. Each test asserts a promise of README.md / docs/gateways.md.</summary>
public sealed class Session9AttackTests : IClassFixture<FakeOpenAIServerFixture>, IDisposable
{
    private const string Helicone = "Helicone-Property-Dify-App-Id";

    private readonly FakeOpenAIServer _server;
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public Session9AttackTests(FakeOpenAIServerFixture fixture)
    {
        _server = fixture.Server;
        _server.Clear();
    }

    public void Dispose() => _services.Dispose();

    // A meter factory of its own: the "headers never written" warning fires once per meter, never shared with other tests.
    private IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    private IChatClient Provider(Action<OpenAIClientOptions>? configure = null, int retries = 0)
    {
        var options = new OpenAIClientOptions { Endpoint = _server.BaseAddress, RetryPolicy = new ClientRetryPolicy(retries) };
        configure?.Invoke(options);
        return new OpenAIClient(new ApiKeyCredential("test-key"), options).GetChatClient(OpenAIPipeline.Model).AsIChatClient();
    }

    private DifyMetadataChatClient Tagged(IChatClient provider, ILogger? logger = null, params string[] gateways)
    {
        var options = new DifyMetadataOptions();
        foreach (string gateway in gateways)
        {
            options.GatewayHeaders.Add(gateway);
        }

        return new DifyMetadataChatClient(provider, options, logger, MeterFactory);
    }

    private static bool IsGatewayWarning(FakeLogRecord r) => r.Level == LogLevel.Warning && r.Id.Id == 301;

    // ---- 1. a call decided in a session that ends while the call is in flight ----

    /// <summary>Reported: a call whose session's <c>using</c> ends while the request waits in the pipeline (built, not yet sent)
    /// is sent with <c>dify_app_id</c> in its body but without its gateway headers. Kept as documented (docs/gateways.md,
    /// Rules): each channel reads the session when it is written, the body when the request is built, the headers when it is
    /// sent; a session that ends between the two leaves the body tagged and the headers off. The alternative (headers from
    /// the build) let a tool's later HTTP call carry the app after its session ended. Pinned so that a change is a decision.</summary>
    [Fact]
    public async Task SessionEndsWhileTheCallWaitsInThePipeline_BodyTagged_HeadersNotSent()
    {
        var gate = new GatePolicy();
        IChatClient client = Tagged(Provider(o => { o.AddDifyMetadataHeaders(); o.AddPolicy(gate, PipelinePosition.PerCall); }), null, "Helicone");

        Task<ChatResponse> call;
        using (DifySession.Begin("app-in-flight"))
        {
            call = client.GetResponseAsync("hello");
            await gate.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        } // the session ends while the request is in the pipeline

        gate.Release.SetResult();
        await call;

        RecordedRequest sent = Assert.Single(_server.Requests);
        Assert.Equal("app-in-flight", sent.Metadata!["dify_app_id"]); // the body carries the app
        Assert.Null(sent.Header(Helicone));
    }

    /// <summary>Held. docs/gateways.md: "The policy runs last before the transport, on every retry." A retry after the
    /// session's scope ended still carries the headers: the policy writes nothing on the retry (the session ended), but the
    /// SDK reuses the request, so the first try's headers stay on it.</summary>
    [Fact]
    public async Task RetryAfterTheSessionEnded_CarriesTheSameHeadersAsTheFirstTry()
    {
        var failFirst = new FailFirstTryAfterSendPolicy();
        IChatClient client = Tagged(
            Provider(o => { o.AddDifyMetadataHeaders(); o.AddPolicy(failFirst, PipelinePosition.BeforeTransport); }, retries: 1), null, "Helicone");

        Task<ChatResponse> call;
        using (DifySession.Begin("app-retried"))
        {
            call = client.GetResponseAsync("hello");
            await failFirst.FirstTrySent.Task.WaitAsync(TimeSpan.FromSeconds(10));
        } // the caller's scope ends during the first try

        failFirst.Fail.SetResult();
        await call;

        Assert.Equal(2, _server.Requests.Count);
        Assert.All(_server.Requests, r => Assert.Equal("app-retried", r.Metadata!["dify_app_id"]));
        Assert.Equal("app-retried", _server.Requests[0].Header(Helicone));
        Assert.Equal("app-retried", _server.Requests[1].Header(Helicone));
    }

    // ---- 2. the "configured but never written" Warning (301) ----

    /// <summary>Reported: an inner layer with presets, covered by an outer layer without any, sends no headers and, with the
    /// policy missing too, nothing warns. As documented since (docs/behaviour.md): of two stacked layers the outer one decides
    /// a call, its gateway headers are the ones sent, and the inner one passes the request on untouched, warnings included.
    /// Pinned here so that a change to that rule is a decision.</summary>
    [Fact]
    public async Task InnerLayerWithPresets_CoveredByAnOuterLayerWithout_TheOuterLayersDecisionHolds()
    {
        var logger = new FakeLogger();
        IChatClient inner = Tagged(Provider(), logger, "Helicone"); // no AddDifyMetadataHeaders(): nothing can be sent
        IChatClient outer = new DifyMetadataChatClient(inner, new DifyMetadataOptions(), null, MeterFactory);

        using (DifySession.Begin("stacked-app"))
        {
            await outer.GetResponseAsync("hello");
        }

        Assert.Null(Assert.Single(_server.Requests).Header(Helicone));
        Assert.DoesNotContain(logger.Collector.GetSnapshot(), IsGatewayWarning);
    }

    // ---- held (kept for coverage) ----

    /// <summary>Held. docs/gateways.md: "never in the caller's flow": the consumer's own request, made between two updates of a
    /// tagged stream through the same client and policy, carries no headers; the stream's own request does.</summary>
    [Fact]
    public async Task ConsumerRequestBetweenUpdatesOfATaggedStream_CarriesNoHeaders()
    {
        IChatClient provider = Provider(o => o.AddDifyMetadataHeaders());
        IChatClient tagged = Tagged(provider, null, "Helicone");
        using (DifySession.Begin("streaming-app"))
        {
            bool first = true;
            await foreach (ChatResponseUpdate update in tagged.GetStreamingResponseAsync("stream"))
            {
                if (first)
                {
                    first = false;
                    await provider.GetResponseAsync("consumer");
                    _ = await Task.Run(() => provider.GetResponseAsync("consumer-task-run"));
                }
            }
        }

        Assert.Equal("streaming-app", _server.Requests.Single(r => r.LastUserText == "stream").Header(Helicone));
        Assert.All(_server.Requests.Where(r => r.LastUserText != "stream"), r => Assert.Null(r.Header(Helicone)));
    }

    /// <summary>Held. Work the provider's send starts (a Task.Run in a handler) that sends after the call returned carries
    /// nothing; while the call runs it does (documented: "current only while the layer's call runs").</summary>
    [Fact]
    public async Task WorkStartedInsideTheSend_SendingAfterTheCall_CarriesNoHeaders()
    {
        var release = new TaskCompletionSource();
        Task? later = null;
        IChatClient provider = null!;
        var spawn = new SpawnPolicy(() => later ??= Task.Run(async () =>
        {
            await release.Task;
            await provider.GetResponseAsync("later");
        }));
        provider = Provider(o => { o.AddDifyMetadataHeaders(); o.AddPolicy(spawn, PipelinePosition.PerCall); });
        IChatClient tagged = Tagged(provider, null, "Helicone");

        using (DifySession.Begin("app"))
        {
            await tagged.GetResponseAsync("first");
        }

        release.SetResult();
        await later!;
        Assert.Equal("app", _server.Requests.Single(r => r.LastUserText == "first").Header(Helicone));
        Assert.Null(_server.Requests.Single(r => r.LastUserText == "later").Header(Helicone));
    }

    /// <summary>Holds a request in the pipeline until released.</summary>
    private sealed class GatePolicy : PipelinePolicy
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex) =>
            ProcessAsync(message, pipeline, currentIndex).AsTask().GetAwaiter().GetResult();

        public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            _ = Entered.TrySetResult();
            await Release.Task.ConfigureAwait(false);
            message.CancellationToken.ThrowIfCancellationRequested();
            await ProcessNextAsync(message, pipeline, currentIndex).ConfigureAwait(false);
        }
    }

    /// <summary>On the first try: sends, then fails as a connection reset would (an IOException the retry policy retries).</summary>
    private sealed class FailFirstTryAfterSendPolicy : PipelinePolicy
    {
        private int _tries;

        public TaskCompletionSource FirstTrySent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Fail { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex) =>
            ProcessAsync(message, pipeline, currentIndex).AsTask().GetAwaiter().GetResult();

        public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            await ProcessNextAsync(message, pipeline, currentIndex).ConfigureAwait(false);
            if (Interlocked.Increment(ref _tries) == 1)
            {
                _ = FirstTrySent.TrySetResult();
                await Fail.Task.ConfigureAwait(false);
                throw new IOException("connection reset after the request was sent");
            }
        }
    }

    private sealed class SpawnPolicy(Action spawn) : PipelinePolicy
    {
        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            spawn();
            ProcessNext(message, pipeline, currentIndex);
        }

        public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            spawn();
            return ProcessNextAsync(message, pipeline, currentIndex);
        }
    }
}
