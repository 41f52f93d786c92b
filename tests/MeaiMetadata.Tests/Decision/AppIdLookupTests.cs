using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Text.Json.Nodes;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace MeaiMetadata.Tests.Decision;

/// <summary>Where a request's app id comes from: the call's own app id, then the session, the resolver, baggage.</summary>
public sealed class AppIdLookupTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public static TheoryData<StandInApi, bool> AllPaths => new()
    {
        { StandInApi.ChatCompletions, false },
        { StandInApi.ChatCompletions, true },
        { StandInApi.Responses, false },
        { StandInApi.Responses, true },
    };

    private IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    public void Dispose() => _services.Dispose();

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task CallAppId_WinsOverSessionResolverAndBaggage_OnEveryChannel(StandInApi api, bool streaming)
    {
        var inner = new OpenAIStandInClient(api);
        using var requests = new MetricCollector<long>(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdResolver = () => "resolver-app" }, meterFactory: MeterFactory);
        var options = new ChatOptions().WithDifyAppId("call-app");

        using var activity = new Activity("request").AddBaggage("dify.app_id", "baggage-app").Start();
        using (DifySession.Begin("session-app"))
        {
            await Send.RequestAsync(client, options, streaming);
        }

        Assert.Equal("call-app", WireAppId(inner));
        var metadata = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(inner.LastOptions!.AdditionalProperties!["metadata"]);
        Assert.Equal("call-app", metadata["dify_app_id"]);
        Assert.Equal("call-app", activity.GetTagItem("dify.app_id"));
        Assert.Equal("call-app", Assert.Single(requests.GetMeasurementSnapshot()).Tags["dify.app_id"]);

        // The key is read, never passed on; the caller's options are the caller's as they were.
        Assert.False(inner.LastOptions.AdditionalProperties.ContainsKey(DifyMetadataKeys.AppIdProperty));
        Assert.Equal("call-app", options.AdditionalProperties![DifyMetadataKeys.AppIdProperty]);
        Assert.False(options.AdditionalProperties.ContainsKey("metadata"));
        Assert.Null(options.RawRepresentationFactory);
    }

    [Fact]
    public async Task CallAppId_WithoutAnySession_TagsTheRequest_LogSaysFromTheCall()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var logs = new FakeLogCollector();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new FakeLoggerProvider(logs)));
        var client = new DifyMetadataChatClient(inner, logger: factory.CreateLogger("test"));

        await client.GetResponseAsync("hi", new ChatOptions().WithDifyAppId("router-app"));

        Assert.Equal("router-app", WireAppId(inner));
        Assert.Contains(logs.GetSnapshot(), r => r.Message.Contains("'router-app' (from the call)", StringComparison.Ordinal));
    }

    public static TheoryData<object, string> CallValues => new()
    {
        { "text-id", "text-id" },
        { 42L, "42" },
        { 7, "7" },
        { (short)-3, "-3" },
        { (byte)9, "9" },
        { 7u, "7" },
        { ulong.MaxValue, "18446744073709551615" },
        { (nint)5, "5" },
        { UInt128.MaxValue, "340282366920938463463374607431768211455" },
        { (Int128)(-1), "-1" },
        { System.Numerics.BigInteger.Pow(10, 30), "1000000000000000000000000000000" },
        { new Guid("0f8fad5b-d9cb-469f-a165-70867728950e"), "0f8fad5b-d9cb-469f-a165-70867728950e" },
        { new string('x', 600), new string('x', 512) },
        { "a\uD800b", "a\uFFFDb" },
    };

    [Theory]
    [MemberData(nameof(CallValues))]
    public async Task CallAppId_EveryReadableShape_IsTheRequestsApp(object value, string expected)
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner);
        var options = new ChatOptions { AdditionalProperties = new() { [DifyMetadataKeys.AppIdProperty] = value } };

        using (DifySession.Begin("session-app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.Equal(expected, WireAppId(inner));
    }

    [Theory]
    [InlineData("", "no_session", false)]
    [InlineData("not-readable", "tagging_failed", true)]
    public async Task CallAppId_EmptyOrUnreadable_GoesUntagged_NotAsTheSessionsApp_KeyNotPassedOn(string kind, string outcome, bool warns)
    {
        object value = kind == "not-readable" ? new object() : kind;
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var logs = new FakeLogCollector();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new FakeLoggerProvider(logs)));
        using var requests = new MetricCollector<long>(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);
        var client = new DifyMetadataChatClient(inner, logger: factory.CreateLogger("test"), meterFactory: MeterFactory);
        var options = new ChatOptions { AdditionalProperties = new() { [DifyMetadataKeys.AppIdProperty] = value, ["other"] = "kept" } };

        using (DifySession.Begin("session-app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        // An explicit app for this call that cannot be used never falls back to another app.
        Assert.Null(inner.LastOptions!.RawRepresentationFactory);
        Assert.False(inner.LastOptions.AdditionalProperties!.ContainsKey(DifyMetadataKeys.AppIdProperty));
        Assert.Equal("kept", inner.LastOptions.AdditionalProperties["other"]);
        Assert.Same(value, options.AdditionalProperties[DifyMetadataKeys.AppIdProperty]);
        Assert.Equal(outcome, Assert.Single(requests.GetMeasurementSnapshot()).Tags["outcome"]);
        Assert.Equal(warns, logs.GetSnapshot().Any(r => r.Level == LogLevel.Warning && r.Message.Contains("System.Object", StringComparison.Ordinal)));
    }

    public static TheoryData<string> JsonShapes => ["element", "disposed element", "lone surrogate element", "node", "document"];

    [Theory]
    [MemberData(nameof(JsonShapes))]
    public async Task CallAppId_FromJson_IsIgnored_TheSessionDecides_KeyNotPassedOn_Warning(string shape)
    {
        var disposed = JsonDocument.Parse("\"victim\"");
        JsonElement disposedElement = disposed.RootElement;
        disposed.Dispose();
        object value = shape switch
        {
            "element" => JsonDocument.Parse("\"victim\"").RootElement.Clone(),
            "disposed element" => disposedElement,
            "lone surrogate element" => JsonDocument.Parse("\"vic\\ud800tim\"").RootElement.Clone(),
            "node" => JsonValue.Create("victim"),
            _ => JsonDocument.Parse("\"victim\""),
        };
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var logs = new FakeLogCollector();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new FakeLoggerProvider(logs)));
        var client = new DifyMetadataChatClient(inner, logger: factory.CreateLogger("test"));

        using (DifySession.Begin("signed-in-app"))
        {
            await client.GetResponseAsync("hi", new ChatOptions { AdditionalProperties = new() { [DifyMetadataKeys.AppIdProperty] = value } });
        }

        Assert.Equal("signed-in-app", WireAppId(inner));
        Assert.False(inner.LastOptions!.AdditionalProperties!.ContainsKey(DifyMetadataKeys.AppIdProperty));
        Assert.Contains(logs.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("holds JSON", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CallAppId_InOptionsDeserializedFromAClientsBody_NeverChoosesTheApp()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner);
        ChatOptions fromBody = JsonSerializer.Deserialize<ChatOptions>(
            """{"additionalProperties":{"dify.app_id":"victim"}}""", AIJsonUtilities.DefaultOptions)!;

        using (DifySession.Begin("authenticated-app"))
        {
            await client.GetResponseAsync("hi", fromBody);
        }

        await client.GetResponseAsync("hi", fromBody);

        Assert.Null(inner.LastOptions!.RawRepresentationFactory); // no session: untagged, not "victim"
        Assert.False(inner.LastOptions.AdditionalProperties!.ContainsKey(DifyMetadataKeys.AppIdProperty));
    }

    [Fact]
    public async Task CallAppId_OnABackgroundPoll_KeyNotPassedOn()
    {
        var inner = new OpenAIStandInClient(StandInApi.Responses);
        var client = new DifyMetadataChatClient(inner);
        var options = new ChatOptions { ContinuationToken = ResponseContinuationToken.FromBytes(new byte[] { 1, 2, 3 }) }.WithDifyAppId("call-app");

        await client.GetResponseAsync("hi", options);

        Assert.False(inner.LastOptions!.AdditionalProperties?.ContainsKey(DifyMetadataKeys.AppIdProperty) ?? false);
        Assert.NotNull(inner.LastOptions.ContinuationToken);
    }

    [Fact]
    public async Task CallAppId_LayerSwitchedOff_PassesTheCallersOptionsUntouched()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { Enabled = false });
        var options = new ChatOptions().WithDifyAppId("call-app");

        await client.GetResponseAsync("hi", options);

        Assert.Same(options, inner.LastOptions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CallAppId_ToolLoopInsideTheLayer_EveryModelRequestAndTheToolsSubRequestCarryIt(bool streaming)
    {
        var wire = new List<(string? App, bool Tool)>();
        (IChatClient client, AIFunction tool) = ToolCallingClient.Pipeline(wire, async pipeline =>
        {
            // The same options passed on: the call's app sticks to them, also inside a session the tool opens.
            using (DifySession.Begin("tool-session"))
            {
                ChatResponse sub = await pipeline.GetResponseAsync("sub question", FunctionInvokingChatClient.CurrentContext!.Options);
                return sub.Text;
            }
        });

        using (DifySession.Begin("outer-session"))
        {
            await Send.RequestAsync(client, new ChatOptions { Tools = [tool] }.WithDifyAppId("call-app"), streaming);
        }

        Assert.Equal(["call-app", "call-app", "call-app"], wire.Select(w => w.App));
    }

    [Fact]
    public async Task CallAppId_OnASubRequestsOwnOptions_NamesTheSubRequestsApp()
    {
        var wire = new List<(string? App, bool Tool)>();
        (IChatClient client, AIFunction tool) = ToolCallingClient.Pipeline(wire, async pipeline =>
            (await pipeline.GetResponseAsync("sub question", FunctionInvokingChatClient.CurrentContext!.Options!.Clone().WithDifyAppId("sub-app"))).Text);

        await client.GetResponseAsync("hi", new ChatOptions { Tools = [tool] }.WithDifyAppId("call-app"));

        Assert.Equal(["call-app", "sub-app", "call-app"], wire.Select(w => w.App));
    }

    [Fact]
    public async Task CallAppId_TwoLayers_TaggedOnce_InnerLayerSeesNoKey()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().UseDifyMetadata().Build();

        await client.GetResponseAsync("hi", new ChatOptions().WithDifyAppId("call-app"));

        Assert.Equal("call-app", WireAppId(inner));
        Assert.Equal(1, inner.LastChat.Metadata.Count(p => p.Key == "dify_app_id"));
        Assert.False(inner.LastOptions!.AdditionalProperties!.ContainsKey(DifyMetadataKeys.AppIdProperty));
    }

    [Fact]
    public async Task Session_WinsOverResolverAndBaggage_ResolverOverBaggage()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var withResolver = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdResolver = () => "resolver-app" });
        var plain = new DifyMetadataChatClient(inner);
        using var activity = new Activity("request").AddBaggage("dify.app_id", "baggage-app").Start();

        using (DifySession.Begin("session-app"))
        {
            await withResolver.GetResponseAsync("hi");
            Assert.Equal("session-app", WireAppId(inner));
        }

        await withResolver.GetResponseAsync("hi");
        Assert.Equal("resolver-app", WireAppId(inner));
        await plain.GetResponseAsync("hi");
        Assert.Equal("baggage-app", WireAppId(inner));
    }

    private static string? WireAppId(OpenAIStandInClient inner) =>
        RawMetadata.Of(inner.LastRaw).TryGetValue("dify_app_id", out string? app) ? app : null;
}
