using System.Diagnostics.Metrics;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
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

    /// <summary>Reported: between two layers sits an IChatClient that does not forward GetService: the outer layer finds no layer
    /// inside and counts the call, and the inner one counts it again. Documented (docs/behaviour.md): a layer finds the layer
    /// inside it through GetService when the pipeline is built. Pinned so that a change is a decision.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stacked_NoApp_WrapperNotForwardingGetService_CountedByBoth_AsDocumented(bool streaming)
    {
        using MetricCollector<long> requests = Requests();
        IChatClient client = Layer(new Opaque(Layer(new OpenAIStandInClient(StandInApi.ChatCompletions))));

        await SendAsync(client, streaming);

        Assert.Equal("no_session,no_session", Outcomes(requests));
    }

    /// <summary>Reported: a router between the layers whose GetService answers for the route with the inner layer sends this
    /// call by another route: the outer layer does not count it, and nothing does. Documented (docs/behaviour.md), as above.
    /// Pinned so that a change is a decision.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stacked_NoApp_RouterSendsPastTheInnerLayer_NotCounted_AsDocumented(bool streaming)
    {
        using MetricCollector<long> requests = Requests();
        var plain = new OpenAIStandInClient(StandInApi.ChatCompletions);
        IChatClient client = Layer(new Router(Layer(new OpenAIStandInClient(StandInApi.ChatCompletions)), plain));

        await SendAsync(client, streaming);

        Assert.Equal(1, plain.Calls); // the request was sent
        Assert.Equal(string.Empty, Outcomes(requests));
    }

    // ---- 2. the 'headers never written' Warning (301) ----

    /// <summary>Reported: a provider that sends through an HttpClient without AddDifyGatewayHeaders() and never calls
    /// ChatOptions.RawRepresentationFactory sends no headers, and nothing warns. Documented (docs/gateways.md): the layer
    /// knows a request was made only when the provider builds it from the raw-options factory (OpenAI's clients do); a
    /// cache answering makes none. Pinned so that a change is a decision.</summary>
    [Fact]
    public async Task GatewayHeaders_HttpClientProviderWithoutTheHandler_NoFactory_NoWarning_AsDocumented()
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
        Assert.DoesNotContain(logs.GetSnapshot(), r => r.Id.Id == 301);
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
