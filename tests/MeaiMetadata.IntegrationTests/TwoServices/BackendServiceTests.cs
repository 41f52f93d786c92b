using System.Diagnostics.Metrics;
using System.Net;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.TwoServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace MeaiMetadata.IntegrationTests.TwoServices;

/// <summary>
/// The sample's backend: it takes the app id from baggage only when the edge sent it (the edge's service key), and its
/// meter counts each app's requests. Behind the edge and called directly, on real Kestrel with the strict fake OpenAI.
/// Alone (serial): the services' OpenTelemetry listens process-wide.
/// </summary>
[Collection(SerialTests.Name)]
public sealed class BackendServiceTests
{
    private static readonly (string ApiKey, string AppId)[] s_callers = [.. Enumerable.Range(0, 10).Select(i => ($"sk-{i}", $"app-{i}"))];

    [Fact]
    public async Task RequestsCounter_PerApp_EqualsWhatWasSent()
    {
        await using TwoServicesHost host = await TwoServicesHost.StartAsync(s_callers);
        using var requests = new MetricCollector<long>(host.Backend.Services.GetRequiredService<IMeterFactory>(), "MeaiMetadata", "dify.metadata.requests");

        // App i sends i + 1 requests through the edge (55 in all, all at once); two untrusted callers go to the backend directly.
        Task<HttpResponseMessage>[] sending =
        [
            .. s_callers.SelectMany((c, i) => Enumerable.Range(0, i + 1).Select(n => host.AskAsync(c.ApiKey, $"{c.AppId} #{n}", ("baggage", "dify.app_id=victim")))),
            host.CompleteDirectlyAsync("direct 1", ("baggage", "dify.app_id=app-0")),
            host.CompleteDirectlyAsync("direct 2", ("baggage", "dify.app_id=victim"), (BackendService.ServiceKeyHeader, "svc-guessed")),
        ];
        HttpResponseMessage[] responses = await Task.WhenAll(sending);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        await host.StopAsync();

        IReadOnlyList<CollectedMeasurement<long>> measured = requests.GetMeasurementSnapshot();
        Dictionary<string, long> attachedPerApp = measured.Where(m => m.Tags["outcome"] as string == "attached")
            .GroupBy(m => (string)m.Tags["dify.app_id"]!).ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        Assert.Equal(s_callers.Select((c, i) => (c.AppId, (long)(i + 1))), s_callers.Select(c => (c.AppId, attachedPerApp.GetValueOrDefault(c.AppId))));
        Assert.Equal(10, attachedPerApp.Count); // no other app, "victim" least of all
        Assert.Equal(2, measured.Where(m => m.Tags["outcome"] as string == "no_session").Sum(m => m.Value));
        Assert.Equal(57, measured.Sum(m => m.Value));

        // The meter and the wire agree, request by request.
        Assert.Equal(
            attachedPerApp.OrderBy(p => p.Key, StringComparer.Ordinal),
            host.OpenAI.Requests.Where(r => r.Metadata is not null).GroupBy(r => r.Metadata![DifyMetadataKeys.AppId])
                .Select(g => new KeyValuePair<string, long>(g.Key, g.Count())).OrderBy(p => p.Key, StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("svc-guessed")]
    [InlineData("svc-reports")] // a known service, but not the edge
    public async Task CallerOtherThanTheEdge_ItsBaggageIsIgnored_UntaggedAtOpenAI(string? serviceKey)
    {
        await using TwoServicesHost host = await TwoServicesHost.StartAsync(s_callers, [new("ServiceKeys:1:Key", "svc-reports"), new("ServiceKeys:1:Service", "reports")]);

        using HttpResponseMessage response = serviceKey is null
            ? await host.CompleteDirectlyAsync("direct", ("baggage", "dify.app_id=victim"))
            : await host.CompleteDirectlyAsync("direct", ("baggage", "dify.app_id=victim"), (BackendService.ServiceKeyHeader, serviceKey));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        RecordedRequest received = host.ReceivedFor("direct");
        Assert.Null(received.Metadata);
        Assert.DoesNotContain("victim", received.Header("baggage") ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheEdgesServiceKey_ItsBaggageIsTrusted_TaggedAtOpenAI()
    {
        await using TwoServicesHost host = await TwoServicesHost.StartAsync(s_callers);

        using HttpResponseMessage response = await host.CompleteDirectlyAsync("as the edge", ("baggage", "dify.app_id=app-7"), (BackendService.ServiceKeyHeader, TwoServicesHost.EdgeServiceKey));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("app-7", host.ReceivedFor("as the edge").Metadata![DifyMetadataKeys.AppId]);
    }
}
