using System.Diagnostics;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using OpenAI.Chat;

namespace MeaiMetadata.Tests.Reliability;

/// <summary>Attribution cannot be forged by what travels with a request. (The random versions are in <see cref="MiddlewareProperties"/>.)</summary>
public sealed class SecurityTests
{
    [Fact]
    public async Task InSession_AdditionalPropertiesStoreFalse_RawStoreTrue_CallerCannotSetDifyAppId()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions());
        var options = new ChatOptions
        {
            AdditionalProperties = new() { ["store"] = false },
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions { StoredOutputEnabled = true };
                raw.Metadata["dify_app_id"] = "victim-app";
                return raw;
            },
        };

        using (DifySession.Begin("attacker-app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        // The request is stored (the caller's raw store:true); it must not be attributed to another app.
        Assert.True(inner.LastChat.StoredOutputEnabled);
        Assert.NotEqual("victim-app", inner.LastChat.Metadata.TryGetValue("dify_app_id", out string? id) ? id : null);
    }

    [Theory]
    [InlineData(StandInApi.ChatCompletions)]
    [InlineData(StandInApi.Responses)]
    public async Task InSession_CallerReservedKeys_AreReplacedOnEveryTaggedRequest(StandInApi api)
    {
        var inner = new OpenAIStandInClient(api);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions());
        var options = new ChatOptions
        {
            AdditionalProperties = new() { ["metadata"] = new Dictionary<string, string> { ["dify_app_id"] = "victim-app", ["dify_source"] = "forged" } },
            RawRepresentationFactory = _ =>
            {
                object raw = api == StandInApi.ChatCompletions ? new ChatCompletionOptions() : new OpenAI.Responses.CreateResponseOptions();
                RawMetadata.Of(raw)["dify_app_id"] = "victim-app";
                RawMetadata.Of(raw)["dify_source"] = "forged";
                return raw;
            },
        };

        using (DifySession.Begin("attacker-app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.Equal("attacker-app", RawMetadata.Of(inner.LastRaw)["dify_app_id"]);
        Assert.Equal("dify", RawMetadata.Of(inner.LastRaw)["dify_source"]);
        var sent = (IReadOnlyDictionary<string, string>)inner.LastOptions!.AdditionalProperties!["metadata"]!;
        Assert.Equal("attacker-app", sent["dify_app_id"]);
        Assert.Equal("dify", sent["dify_source"]);
    }

    [Fact]
    public async Task Baggage_NeverWinsOverASessionOrResolver()
    {
        using var activity = new Activity("incoming-request").Start();
        activity.SetBaggage(DifyMetadataTelemetry.AppIdTag, "victim-app"); // what a client could send in a baggage header

        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var bySession = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdFromBaggage = true });
        using (DifySession.Begin("attacker-app"))
        {
            await bySession.GetResponseAsync("hi");
        }

        Assert.Equal("attacker-app", inner.LastChat.Metadata["dify_app_id"]);

        var byResolver = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdFromBaggage = true, AppIdResolver = () => null });
        await byResolver.GetResponseAsync("hi");
        Assert.Empty(inner.LastChat.Metadata); // a resolver that finds nothing does not fall back to baggage
    }

    [Fact]
    public async Task Baggage_OutsideASession_IsTrustedOnlyWhenEnabled()
    {
        using var activity = new Activity("incoming-request").Start();
        activity.SetBaggage(DifyMetadataTelemetry.AppIdTag, "from-a-header");
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);

        await new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdFromBaggage = false }).GetResponseAsync("hi");
        Assert.Empty(inner.LastChat.Metadata);

        // On (the default): any caller able to set the baggage header chooses the attribution, hence the edge must strip it.
        await new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdFromBaggage = true }).GetResponseAsync("hi");
        Assert.Equal("from-a-header", inner.LastChat.Metadata["dify_app_id"]);
    }
}
