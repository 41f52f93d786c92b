using System.Diagnostics.Metrics;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace MeaiMetadata.Tests.Review;

/// <summary>Session 9, second attack, on bc84907: "a call no layer decides is counted once, by the innermost layer it
/// reaches" (docs/behaviour.md), implemented as "a layer that finds another layer through <c>InnerClient.GetService</c> when
/// it is built never counts such a call"; and the 'headers never written' Warning (301), which now needs the provider to
/// have built a request (called the raw-options factory). Each test asserts a promise of README.md / docs/*.md, so it FAILS
/// where the promise is broken.</summary>
public sealed class Session9SecondAttackTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    public void Dispose() => _services.Dispose();

    private MetricCollector<long> Requests() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);

    private static string Outcomes(MetricCollector<long> requests) =>
        string.Join(",", requests.GetMeasurementSnapshot().Select(m => (string?)m.Tags[DifyMetadataTelemetry.OutcomeTag]));

    private DifyMetadataChatClient Layer(IChatClient inner) => new(inner, new DifyMetadataOptions(), meterFactory: MeterFactory);

    private static async Task SendAsync(IChatClient client, bool streaming)
    {
        if (streaming)
        {
            await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync("hi"))
            {
                _ = update;
            }
        }
        else
        {
            await client.GetResponseAsync("hi");
        }
    }

    // ---- 1. stacked layers: a call no layer decides is counted once, by the innermost layer it reaches ----

    /// <summary>docs/behaviour.md: "A call no layer decides (no app ...) is counted once, by the innermost layer it reaches".
    /// Between the two layers sits an IChatClient that does not forward GetService (any hand-written IChatClient wrapper
    /// that is not a DelegatingChatClient: a rate limiter, a logging shim). The outer layer, built over it, finds no layer
    /// inside, so it counts the call; the inner layer, reached, counts it again: a request outside any session is two
    /// no_session on dify.metadata.requests.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stacked_NoApp_WrapperNotForwardingGetService_CountedOnce(bool streaming)
    {
        using MetricCollector<long> requests = Requests();
        IChatClient client = Layer(new Opaque(Layer(new OpenAIStandInClient(StandInApi.ChatCompletions))));

        await SendAsync(client, streaming);

        Assert.Equal("no_session", Outcomes(requests)); // observed: "no_session,no_session"
    }

    /// <summary>docs/behaviour.md: the same promise, "counted once, by the innermost layer it reaches". A router between the
    /// layers whose GetService answers for its default route (the one with the inner layer) sends this call by another
    /// route, without a layer: the outer layer, the innermost the call reaches, was told at build time that a layer is inside
    /// and does not count it; nothing does. The request went to the model and is on no counter.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stacked_NoApp_RouterSendsPastTheInnerLayer_CountedOnce(bool streaming)
    {
        using MetricCollector<long> requests = Requests();
        var plain = new OpenAIStandInClient(StandInApi.ChatCompletions);
        IChatClient client = Layer(new Router(Layer(new OpenAIStandInClient(StandInApi.ChatCompletions)), plain));

        await SendAsync(client, streaming);

        Assert.Equal(1, plain.Calls); // the request was sent
        Assert.Equal("no_session", Outcomes(requests)); // observed: "" (not counted)
    }

    // ---- 2. the 'headers never written' Warning (301) ----

    /// <summary>docs/gateways.md: "Configuring GatewayHeaders alone sends nothing; the layer then logs one Warning naming the
    /// missing call", and "Providers that send through an HttpClient you give them take the same headers from a
    /// DelegatingHandler". A provider that sends through an HttpClient WITHOUT AddDifyGatewayHeaders() and does not call
    /// ChatOptions.RawRepresentationFactory (it has no raw options type): the request goes out without the headers, the call
    /// completes, and nothing warns: GatewayHeadersLost requires BuiltFlag, which only the raw-options factory sets.</summary>
    [Fact]
    public async Task GatewayHeaders_HttpClientProviderWithoutTheHandler_Warns()
    {
        var logs = new FakeLogCollector();
        var wire = new Capture();
        using var http = new HttpClient(wire); // no DifyGatewayHeadersHandler: the misconfiguration to report
        var provider = new TestChatClient
        {
            GetResponseAsyncCallback = async (_, _, ct) =>
            {
                (await http.PostAsync(new Uri("http://127.0.0.1/api/chat"), new StringContent("{}"), ct)).Dispose();
                return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")) { Usage = new() { InputTokenCount = 3, OutputTokenCount = 1 } };
            },
        };
        IChatClient client = new DifyMetadataChatClient(
            provider, new DifyMetadataOptions { GatewayHeaders = { "Helicone" } }, new FakeLogger(logs), MeterFactory);

        using (DifySession.Begin("http-app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal(1, wire.Sent);
        Assert.False(wire.HadHelicone);
        Assert.Contains(logs.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Id.Id == 301); // observed: none
    }

    /// <summary>An IChatClient wrapper that answers GetService for itself only (does not forward).</summary>
    private sealed class Opaque(IChatClient inner) : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            inner.GetResponseAsync(messages, options, cancellationToken);

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            inner.GetStreamingResponseAsync(messages, options, cancellationToken);

        public object? GetService(Type serviceType, object? serviceKey = null) => serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

        public void Dispose() => inner.Dispose();
    }

    /// <summary>A router whose GetService answers for its default route, and that sends this call by the other route.</summary>
    private sealed class Router(IChatClient defaultRoute, IChatClient other) : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            other.GetResponseAsync(messages, options, cancellationToken);

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            other.GetStreamingResponseAsync(messages, options, cancellationToken);

        public object? GetService(Type serviceType, object? serviceKey = null) => defaultRoute.GetService(serviceType, serviceKey);

        public void Dispose()
        {
        }
    }

    private sealed class Capture : HttpMessageHandler
    {
        public int Sent { get; private set; }

        public bool HadHelicone { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Sent++;
            HadHelicone = request.Headers.Contains("Helicone-Property-Dify-App-Id");
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));
        }
    }
}
