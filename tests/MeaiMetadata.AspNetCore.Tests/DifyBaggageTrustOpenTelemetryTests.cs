using System.Diagnostics;
using System.Diagnostics.Metrics;
using MeaiMetadata.AspNetCore.Tests.TestDoubles;
using MeaiMetadata.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Context.Propagation;
using OpenTelemetry.Trace;

namespace MeaiMetadata.AspNetCore.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OpenTelemetryTests
{
    public const string Name = "OpenTelemetry (process-wide listeners)";
}

/// <summary>
/// <c>UseDifyBaggageTrust</c> with OpenTelemetry's ASP.NET Core and HttpClient instrumentation and OpenTelemetry's default
/// propagator (trace context and baggage): the ASP.NET Core instrumentation copies the incoming <c>baggage</c> header into
/// OpenTelemetry's own <c>Baggage.Current</c> before any middleware runs, and the HttpClient instrumentation rewrites every
/// outgoing <c>baggage</c> header from it. An edge calls a backend that answers the <c>baggage</c> header it received.
/// Alone: the tracer provider listens to the whole process.
/// </summary>
[Collection(OpenTelemetryTests.Name)]
public sealed class DifyBaggageTrustOpenTelemetryTests
{
    private const string Category = "MeaiMetadata.AspNetCore.DifyBaggageTrustMiddleware";

    internal static TracerProvider StartOpenTelemetry()
    {
        TracerProvider tracing = Sdk.CreateTracerProviderBuilder().AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().Build()!;
        Assert.IsNotType<TraceContextPropagator>(Propagators.DefaultTextMapPropagator); // the default: trace context and baggage
        return tracing;
    }

    /// <summary>The items of OpenTelemetry's <c>Baggage.Current</c>, sorted: <c>a=1|b=2</c>.</summary>
    internal static string OpenTelemetryBaggage() =>
        string.Join("|", Baggage.Current.GetBaggage().Select(b => $"{b.Key}={b.Value}").Order(StringComparer.Ordinal));

    /// <summary>The members of a <c>baggage</c> header, trimmed and sorted: <c>a=1|b=2</c>.</summary>
    internal static string Members(string header) =>
        string.Join("|", header.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order(StringComparer.Ordinal));

    internal static Task<TestApp> StartBackendAsync() =>
        TestApp.StartAsync(a => a.MapGet("/", (HttpContext c) => c.Request.Headers["baggage"].ToString()));

    internal static async Task<string> GetAsync(TestApp app, string baggage, string path = "")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("baggage", baggage);
        using HttpResponseMessage response = await app.Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    [Theory]
    [InlineData("dify.app_id=victim,tenant.region=eu")]
    [InlineData("tenant.region=eu, %64ify.app_id=victim")]
    [InlineData("dify%2Eapp_id=victim,tenant.region=eu,dify.app_id=victim")]
    public async Task Untrusted_AppIdGoneFromOpenTelemetryBaggage_InTheEndpointAndOnTheOutgoingRequest(string baggage)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.UseDifyBaggageTrust(_ => false);
            a.MapGet("/", async () =>
            {
                string seen = OpenTelemetryBaggage();
                using var http = new HttpClient();
                return seen + " sent=" + Members(await http.GetStringAsync(backend.Address));
            });
        });

        Assert.Equal("tenant.region=eu sent=tenant.region=eu", await GetAsync(edge, baggage));
    }

    [Fact]
    public async Task Trusted_OpenTelemetryBaggageKept_AndSentOn()
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.UseDifyBaggageTrust(_ => true);
            a.MapGet("/", async () =>
            {
                string seen = OpenTelemetryBaggage();
                using var http = new HttpClient();
                return seen + " sent=" + Members(await http.GetStringAsync(backend.Address));
            });
        });

        Assert.Equal("dify.app_id=gateway-app|tenant.region=eu sent=dify.app_id=gateway-app|tenant.region=eu", await GetAsync(edge, "dify.app_id=gateway-app,tenant.region=eu"));
    }

    [Fact]
    public async Task Untrusted_EachStrippedRequest_OneCountAndOneDebugLog_NamingOpenTelemetrysBaggage()
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.UseDifyBaggageTrust(c => c.Request.Query.ContainsKey("trusted"));
            a.MapGet("/", OpenTelemetryBaggage);
        });
        using var removed = new MetricCollector<long>(edge.Services.GetRequiredService<IMeterFactory>(), "MeaiMetadata", "dify.baggage.removed");

        Assert.Equal("tenant.region=eu", await GetAsync(edge, "dify.app_id=victim,tenant.region=eu"));
        Assert.Equal("tenant.region=eu", await GetAsync(edge, "%64ify.app_id=victim,tenant.region=eu"));
        Assert.Equal("dify.app_id=victim|tenant.region=eu", await GetAsync(edge, "dify.app_id=victim,tenant.region=eu", "?trusted"));

        Assert.Equal(2, removed.GetMeasurementSnapshot().EvaluateAsCounter());
        IReadOnlyList<Microsoft.Extensions.Logging.Testing.FakeLogRecord> logs = edge.LogsOf(Category, LogLevel.Debug);
        Assert.Equal(2, logs.Count);
        Assert.All(logs, l => Assert.EndsWith("from the baggage header, the request activity and OpenTelemetry's Baggage.Current.", l.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Untrusted_UseDifyMetadataInTheRequest_TagsNothing_AndNoVictimAnywhere()
    {
        using TracerProvider tracing = StartOpenTelemetry();
        var model = new RecordingChatClient();
        await using TestApp app = await TestApp.StartAsync(
            a =>
            {
                a.UseDifyBaggageTrust(_ => false);
                a.MapGet("/", async (IChatClient chat) => (await chat.GetResponseAsync("hi")).Text + " " + (Baggage.GetBaggage("dify.app_id") ?? "(none)") + " " + (Activity.Current?.GetBaggageItem("dify.app_id") ?? "(none)"));
            },
            b => b.Services.AddChatClient(model).UseDifyMetadata());

        Assert.Equal("ok (none) (none)", await GetAsync(app, "dify.app_id=victim,other.item=1"));
        Assert.Null(Assert.Single(model.Metadata));
    }

    [Fact]
    public async Task Untrusted_RemovalReachesAnHttpClientWithDifyBaggageHandler_OutsideASession()
    {
        // No session: the handler adds nothing, and OpenTelemetry rewrites the header from the stripped Baggage.Current.
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.UseDifyBaggageTrust(_ => false);
            a.MapGet("/", async () =>
            {
                using var http = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
                return Members(await http.GetStringAsync(backend.Address));
            });
        });

        Assert.Equal("tenant.region=eu", await GetAsync(edge, "tenant.region=eu,dify.app_id=victim"));
    }
}
