using System.Diagnostics;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.TwoServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

namespace MeaiMetadata.IntegrationTests.TwoServices;

/// <summary>The strict fake OpenAI, the sample's backend and its edge, each on real Kestrel on 127.0.0.1, built with
/// <see cref="BackendService.Build"/> and <see cref="EdgeService.Build"/> as the sample's program builds them; every span
/// each service exports is kept (OpenTelemetry's in-memory exporter), one list per service.</summary>
internal sealed class TwoServicesHost : IAsyncDisposable
{
    public const string EdgeServiceKey = "svc-edge-test";

    private readonly List<Activity> _edgeSpans;
    private readonly List<Activity> _backendSpans;
    private bool _stopped;

    private TwoServicesHost(FakeOpenAIServer openAI, WebApplication backend, WebApplication edge, List<Activity> backendSpans, List<Activity> edgeSpans)
    {
        OpenAI = openAI;
        Backend = backend;
        Edge = edge;
        _backendSpans = backendSpans;
        _edgeSpans = edgeSpans;
        BackendAddress = ServiceAddress.Of(backend);
        EdgeAddress = ServiceAddress.Of(edge);

        // A caller on the internet: a plain client, whose own traceparent (.NET sends one) the edge does not take.
        Caller = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
    }

    public FakeOpenAIServer OpenAI { get; }

    public WebApplication Backend { get; }

    public WebApplication Edge { get; }

    public Uri BackendAddress { get; }

    public Uri EdgeAddress { get; }

    public HttpClient Caller { get; }

    /// <summary>The spans the edge and the backend exported (read after <see cref="StopAsync"/>: every span has ended then).</summary>
    public Activity[] Spans => _stopped ? [.. _edgeSpans, .. _backendSpans] : throw new InvalidOperationException("Stop the services first.");

    public static async Task<TwoServicesHost> StartAsync(
        IEnumerable<(string ApiKey, string AppId)> callers,
        IEnumerable<KeyValuePair<string, string?>>? moreBackendSettings = null)
    {
        FakeOpenAIServer openAI = await FakeOpenAIServer.StartAsync();
        var backendSpans = new List<Activity>();
        var edgeSpans = new List<Activity>();
        WebApplication backend = BackendService.Build(openAI.BaseAddress, b =>
        {
            b.Configuration.AddInMemoryCollection([.. TwoServicesSettings.Backend(EdgeServiceKey), .. moreBackendSettings ?? []]);
            ServiceTelemetry.ExportSpans(b, backendSpans);
        });
        await backend.StartAsync();
        WebApplication edge = EdgeService.Build(ServiceAddress.Of(backend), b =>
        {
            b.Configuration.AddInMemoryCollection(TwoServicesSettings.Edge(callers, EdgeServiceKey));
            ServiceTelemetry.ExportSpans(b, edgeSpans);
        });
        await edge.StartAsync();
        return new TwoServicesHost(openAI, backend, edge, backendSpans, edgeSpans);
    }

    /// <summary>Posts <paramref name="prompt"/> to the edge's <c>/ask</c> with the API key and the extra headers given.</summary>
    public Task<HttpResponseMessage> AskAsync(string? apiKey, string prompt, params (string Name, string Value)[] headers) =>
        SendAsync(new Uri(EdgeAddress, "ask"), apiKey is null ? headers : [(EdgeService.ApiKeyHeader, apiKey), .. headers], prompt);

    /// <summary>Posts <paramref name="prompt"/> to the backend's <c>/complete</c> directly, with the headers given.</summary>
    public Task<HttpResponseMessage> CompleteDirectlyAsync(string prompt, params (string Name, string Value)[] headers) =>
        SendAsync(new Uri(BackendAddress, "complete"), headers, prompt);

    /// <summary>The request the fake received whose last user message is <paramref name="prompt"/>; fails unless exactly one.</summary>
    public RecordedRequest ReceivedFor(string prompt) => Assert.Single(OpenAI.Requests, r => r.LastUserText == prompt);

    /// <summary>Stops the edge, then the backend: stopping waits for the requests in flight, so every span has ended.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        await Edge.StopAsync();
        await Backend.StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Caller.Dispose();
        await StopAsync();
        await Edge.DisposeAsync();
        await Backend.DisposeAsync();
        await OpenAI.DisposeAsync();
    }

    private async Task<HttpResponseMessage> SendAsync(Uri address, (string Name, string Value)[] headers, string prompt)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, address) { Content = new StringContent(prompt) };
        foreach ((string name, string value) in headers)
        {
            Assert.True(request.Headers.TryAddWithoutValidation(name, value), name);
        }

        return await Caller.SendAsync(request);
    }
}
