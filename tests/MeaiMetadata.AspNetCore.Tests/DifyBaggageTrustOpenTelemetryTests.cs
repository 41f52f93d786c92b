using System.Diagnostics;
using MeaiMetadata.AspNetCore.Tests.TestDoubles;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace MeaiMetadata.AspNetCore.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OpenTelemetryTests
{
    public const string Name = "OpenTelemetry (process-wide listeners)";
}

/// <summary>
/// What <c>UseDifyBaggageTrust</c> does and does not reach when OpenTelemetry.Instrumentation.AspNetCore runs: the
/// instrumentation extracts the incoming <c>baggage</c> header into OpenTelemetry's own <c>Baggage.Current</c> when the
/// request starts, before any middleware, and the middleware (which has no dependency on OpenTelemetry) leaves it. The
/// package README's remedy, one line of the application's, removes it there too. Alone: the tracer provider listens to the
/// whole process.
/// </summary>
[Collection(OpenTelemetryTests.Name)]
public sealed class DifyBaggageTrustOpenTelemetryTests
{
    private static string Seen(HttpContext c) =>
        $"otel={Baggage.GetBaggage("dify.app_id") ?? "(none)"} otel.other={Baggage.GetBaggage("other.item") ?? "(none)"} activity={Activity.Current?.GetBaggageItem("dify.app_id") ?? "(none)"} header={c.Request.Headers["baggage"]}";

    private static async Task<string> GetAsync(TestApp app, string path = "")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("baggage", "dify.app_id=victim,other.item=1");
        using HttpResponseMessage response = await app.Client.SendAsync(request);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task AspNetCoreInstrumentation_Untrusted_OpenTelemetryBaggageCurrentStillCarriesTheAppId()
    {
        using TracerProvider tracing = Sdk.CreateTracerProviderBuilder().AddAspNetCoreInstrumentation().Build()!;
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.UseDifyBaggageTrust(_ => false);
            a.MapGet("/", (HttpContext c) => Seen(c));
        });

        Assert.Equal("otel=victim otel.other=1 activity=(none) header=other.item=1", await GetAsync(app));
    }

    [Fact]
    public async Task AspNetCoreInstrumentation_ReadmeRemedy_RemovesItFromOpenTelemetryBaggageForUntrustedCallersOnly()
    {
        using TracerProvider tracing = Sdk.CreateTracerProviderBuilder().AddAspNetCoreInstrumentation().Build()!;
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            // As in the package README.
            Func<HttpContext, bool> trusted = c => c.Request.Query.ContainsKey("trusted");
            a.UseDifyBaggageTrust(trusted);
            a.Use(async (context, next) =>
            {
                if (!trusted(context))
                {
                    Baggage.RemoveBaggage("dify.app_id");
                }

                await next(context);
            });
            a.MapGet("/", (HttpContext c) => Seen(c));
        });

        Assert.Equal("otel=(none) otel.other=1 activity=(none) header=other.item=1", await GetAsync(app));
        Assert.Equal("otel=victim otel.other=1 activity=victim header=dify.app_id=victim,other.item=1", await GetAsync(app, "?trusted"));
    }

    [Fact]
    public async Task AspNetCoreInstrumentation_Untrusted_UseDifyMetadataInTheRequest_StillSendsNoVictim()
    {
        // UseDifyMetadata reads Activity baggage, not OpenTelemetry's Baggage.Current: stripping is enough for the layer.
        using TracerProvider tracing = Sdk.CreateTracerProviderBuilder().AddAspNetCoreInstrumentation().Build()!;
        var model = new RecordingChatClient();
        await using TestApp app = await TestApp.StartAsync(
            a =>
            {
                a.UseDifyBaggageTrust(_ => false);
                a.MapGet("/", async (IChatClient chat) => (await chat.GetResponseAsync("hi")).Text + " " + (Baggage.GetBaggage("dify.app_id") ?? "(none)"));
            },
            b => b.Services.AddChatClient(model).UseDifyMetadata());

        Assert.Equal("ok victim", await GetAsync(app));
        Assert.Null(Assert.Single(model.Metadata));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HttpInstrumentation_Untrusted_OutgoingCallsCarryOpenTelemetrysBaggage_UnlessTheReadmeRemedyRuns(bool remedy)
    {
        // OpenTelemetry.Instrumentation.Http injects Baggage.Current into outgoing requests: without the remedy, the
        // untrusted caller's app id reaches the next service, whose AppIdFromBaggage would tag with it.
        using TracerProvider tracing = Sdk.CreateTracerProviderBuilder().AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().Build()!;
        await using TestApp backend = await TestApp.StartAsync(a => a.MapGet("/", (HttpContext c) => c.Request.Headers["baggage"].ToString()));
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.UseDifyBaggageTrust(_ => false);
            if (remedy)
            {
                a.Use(async (context, next) =>
                {
                    Baggage.RemoveBaggage("dify.app_id");
                    await next(context);
                });
            }

            a.MapGet("/", async () =>
            {
                using var http = new HttpClient();
                return await http.GetStringAsync(backend.Address);
            });
        });

        string sent = await GetAsync(edge);
        Assert.Contains("other.item", sent, StringComparison.Ordinal);
        Assert.Equal(!remedy, sent.Contains("dify.app_id=victim", StringComparison.Ordinal));
    }
}
