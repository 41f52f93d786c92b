using System.Text.Json;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using OpenAI.Chat;
using OpenAI.Responses;

namespace MeaiMetadata.Tests;

public class DifyMetadataChatClientTests
{
    public static TheoryData<StandInApi, bool> AllPaths => new()
    {
        { StandInApi.ChatCompletions, false },
        { StandInApi.ChatCompletions, true },
        { StandInApi.Responses, false },
        { StandInApi.Responses, true },
    };

    private static (DifyMetadataChatClient Client, OpenAIStandInClient Inner) Create(
        StandInApi api, Action<DifyMetadataOptions>? configure = null, ILogger? logger = null)
    {
        var inner = new OpenAIStandInClient(api);
        var options = new DifyMetadataOptions();
        configure?.Invoke(options);
        return (new DifyMetadataChatClient(inner, options, logger), inner);
    }

    // ---- pass-through: nothing to tag ----

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task NoSession_PassesCallerOptionsThroughUntouched(StandInApi api, bool streaming)
    {
        var (client, inner) = Create(api);
        var options = new ChatOptions { Temperature = 0.5f };

        await Send.RequestAsync(client, options, streaming);
        Assert.Same(options, inner.LastOptions);
        Assert.Empty(RawMetadata.Of(inner.LastRaw));
        Assert.Null(RawMetadata.StoreOf(inner.LastRaw));

        await Send.RequestAsync(client, null, streaming);
        Assert.Null(inner.LastOptions);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task Disabled_PassesThroughEvenInSession(StandInApi api, bool streaming)
    {
        var (client, inner) = Create(api, o => o.Enabled = false);
        var options = new ChatOptions();

        using (DifySession.Begin("app"))
        {
            await Send.RequestAsync(client, options, streaming);
        }

        Assert.Same(options, inner.LastOptions);
        Assert.Empty(RawMetadata.Of(inner.LastRaw));
        Assert.Null(RawMetadata.StoreOf(inner.LastRaw));
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task EmptyAppId_PassesThrough(StandInApi api, bool streaming)
    {
        var (client, inner) = Create(api);
        var options = new ChatOptions();

        using (DifySession.Begin(string.Empty))
        {
            await Send.RequestAsync(client, options, streaming);
        }

        Assert.Same(options, inner.LastOptions);
        Assert.Empty(RawMetadata.Of(inner.LastRaw));
    }

    // ---- tagging on all four paths ----

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task InSession_NullOptions_TagsMetadataAndStore(StandInApi api, bool streaming)
    {
        var (client, inner) = Create(api);

        string text;
        using (DifySession.Begin("app-123"))
        {
            text = await Send.RequestAsync(client, null, streaming);
        }

        Assert.Equal("ok", text);
        Assert.Equal(new Dictionary<string, string> { ["dify_app_id"] = "app-123", ["dify_source"] = "dify" }, RawMetadata.Of(inner.LastRaw));
        Assert.True(RawMetadata.StoreOf(inner.LastRaw));
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task InSession_CancellationToken_ReachesInner(StandInApi api, bool streaming)
    {
        var (client, inner) = Create(api);
        using var cts = new CancellationTokenSource();

        using (DifySession.Begin("app"))
        {
            await Send.RequestAsync(client, null, streaming, cts.Token);
        }

        Assert.Equal(cts.Token, inner.LastToken);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task NoSession_CancellationToken_ReachesInner(StandInApi api, bool streaming)
    {
        var (client, inner) = Create(api);
        using var cts = new CancellationTokenSource();

        await Send.RequestAsync(client, null, streaming, cts.Token);

        Assert.Equal(cts.Token, inner.LastToken);
    }

    [Theory]
    [InlineData("6f1c2b1e-8a3d-4c5e-9f00-123456789abc")] // UUID passes through
    [InlineData("app!@#$%^&*()_+-=[]{}|;':\",./<>?")] // punctuation and quotes kept
    [InlineData("应用-アプリ-앱-приложение-😀")] // non-ASCII kept
    [InlineData("MyApp-MiXeD")] // case kept
    [InlineData("line1\nline2\ttab")] // control whitespace kept
    public async Task InSession_AppId_PassesThroughExactly(string appId)
    {
        var (client, inner) = Create(StandInApi.ChatCompletions);

        using (DifySession.Begin(appId))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal(appId, inner.LastChat.Metadata["dify_app_id"]);
    }

    [Fact]
    public async Task InSession_LongAppId_TruncatedTo512()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions);
        string appId = new string('a', 600);

        using (DifySession.Begin(appId))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal(appId[..512], inner.LastChat.Metadata["dify_app_id"]);
    }

    [Fact]
    public async Task InSession_SurrogatePairAtLimit_IsNotSplit()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions);
        string appId = new string('a', 511) + "😀" + "tail"; // the pair occupies chars 511 and 512

        using (DifySession.Begin(appId))
        {
            await client.GetResponseAsync("hi");
        }

        string sent = inner.LastChat.Metadata["dify_app_id"];
        Assert.Equal(new string('a', 511), sent);
        Assert.False(char.IsHighSurrogate(sent[^1]));
    }

    [Fact]
    public async Task InSession_CustomSource_IsSent()
    {
        var (client, inner) = Create(StandInApi.Responses, o => o.Source = "tenant-gateway");

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal("tenant-gateway", inner.LastResponses.Metadata["dify_source"]);
    }

    [Fact]
    public async Task InSession_EmptySource_SendsOnlyAppId()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions, o => o.Source = "");

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal(new Dictionary<string, string> { ["dify_app_id"] = "app" }, inner.LastChat.Metadata);
    }

    // ---- the app id source ----

    [Fact]
    public async Task Session_WinsOverResolver_ResolverWinsOverBaggage()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions, o => o.AppIdResolver = () => "from-resolver");
        using var activity = new System.Diagnostics.Activity("request").AddBaggage("dify.app_id", "from-baggage").Start();

        using (DifySession.Begin("from-session"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal("from-session", inner.LastChat.Metadata["dify_app_id"]);

        await client.GetResponseAsync("hi");
        Assert.Equal("from-resolver", inner.LastChat.Metadata["dify_app_id"]);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public async Task Resolver_ReturnsNothing_PassesThrough(string? resolved)
    {
        var (client, inner) = Create(StandInApi.ChatCompletions, o => o.AppIdResolver = () => resolved);
        var options = new ChatOptions();

        await client.GetResponseAsync("hi", options);

        Assert.Same(options, inner.LastOptions);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task Resolver_Throws_UntaggedWithWarning(StandInApi api, bool streaming)
    {
        var logger = new FakeLogger();
        var (client, inner) = Create(api, o => o.AppIdResolver = () => throw new InvalidOperationException("lookup failed"), logger);
        var options = new ChatOptions();

        string text = await Send.RequestAsync(client, options, streaming);

        Assert.Equal("ok", text);
        Assert.Same(options, inner.LastOptions);
        FakeLogRecord warning = Assert.Single(logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning);
        Assert.IsType<InvalidOperationException>(warning.Exception);
    }

    [Fact]
    public async Task EachRequest_GetsItsOwnFactory_BoundToItsOwnDecision()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions);

        using (DifySession.Begin("first"))
        {
            await client.GetResponseAsync("hi");
        }

        Func<IChatClient, object?> first = inner.LastOptions!.RawRepresentationFactory!;
        using (DifySession.Begin("second"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.NotSame(first, inner.LastOptions!.RawRepresentationFactory);
        Assert.Equal("second", inner.LastChat.Metadata["dify_app_id"]);
        Assert.Null(first(inner)); // kept and called after its session ended: it tags nothing (no caller factory: nothing at all)
    }

    // ---- the caller's objects ----

    [Fact]
    public async Task CallerOptions_AreNeverMutated()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions);
        Func<IChatClient, object?> callerFactory = _ => new ChatCompletionOptions();
        var callerProperties = new AdditionalPropertiesDictionary { ["custom"] = "value" };
        var options = new ChatOptions
        {
            Temperature = 0.25f,
            ModelId = "gpt-x",
            RawRepresentationFactory = callerFactory,
            AdditionalProperties = callerProperties,
        };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.NotSame(options, inner.LastOptions);
        Assert.Same(callerFactory, options.RawRepresentationFactory);
        Assert.Same(callerProperties, options.AdditionalProperties);
        Assert.Equal(["custom"], callerProperties.Keys);
        Assert.Equal(0.25f, inner.LastOptions!.Temperature);
        Assert.Equal("gpt-x", inner.LastOptions.ModelId);
        Assert.Equal("value", inner.LastOptions.AdditionalProperties!["custom"]);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task CallerFactory_IsCalledWithProviderClient_AndMergedInto(StandInApi api, bool streaming)
    {
        var (client, inner) = Create(api);
        IChatClient? seenClient = null;
        object? created = null;
        var options = new ChatOptions
        {
            RawRepresentationFactory = c =>
            {
                seenClient = c;
                object raw = api == StandInApi.ChatCompletions ? new ChatCompletionOptions() : new CreateResponseOptions();
                RawMetadata.Of(raw)["team"] = "search";
                return created = raw;
            },
        };

        using (DifySession.Begin("app"))
        {
            await Send.RequestAsync(client, options, streaming);
        }

        Assert.Same(inner, seenClient);
        Assert.Same(created, inner.RawReturnedByFactory);
        Assert.Equal(
            new Dictionary<string, string> { ["team"] = "search", ["dify_app_id"] = "app", ["dify_source"] = "dify" },
            RawMetadata.Of(inner.LastRaw));
    }

    [Fact]
    public async Task CallerFactory_UnrelatedType_LeftUntouched_ClientsOwnTypeTaggedInstead()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions);
        var unrelated = new Uri("https://example.invalid/");
        var options = new ChatOptions { RawRepresentationFactory = _ => unrelated };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.IsType<ChatCompletionOptions>(inner.RawReturnedByFactory);
        Assert.Equal("app", inner.LastChat.Metadata["dify_app_id"]);
        Assert.Equal("https://example.invalid/", unrelated.OriginalString);
    }

    [Fact]
    public async Task CallerFactory_Throws_ExceptionReachesCallerUnchanged()
    {
        var (client, _) = Create(StandInApi.ChatCompletions);
        var thrown = new FormatException("caller bug");
        var options = new ChatOptions { RawRepresentationFactory = _ => throw thrown };

        using (DifySession.Begin("app"))
        {
            FormatException caught = await Assert.ThrowsAsync<FormatException>(() => client.GetResponseAsync("hi", options));
            Assert.Same(thrown, caught);
        }
    }

    // ---- store ----

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task CallerRawStoreFalse_AttachesNothingAndKeepsFalse(StandInApi api, bool streaming)
    {
        var (client, inner) = Create(api);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ => api == StandInApi.ChatCompletions
                ? new ChatCompletionOptions { StoredOutputEnabled = false }
                : new CreateResponseOptions { StoredOutputEnabled = false },
        };

        using (DifySession.Begin("app"))
        {
            await Send.RequestAsync(client, options, streaming);
        }

        Assert.Empty(RawMetadata.Of(inner.LastRaw));
        Assert.False(RawMetadata.StoreOf(inner.LastRaw));
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task CallerRawStoreTrue_IsKept(StandInApi api, bool streaming)
    {
        var (client, inner) = Create(api, o => o.StorePolicy = DifyStorePolicy.LeaveUnset);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ => api == StandInApi.ChatCompletions
                ? new ChatCompletionOptions { StoredOutputEnabled = true }
                : new CreateResponseOptions { StoredOutputEnabled = true },
        };

        using (DifySession.Begin("app"))
        {
            await Send.RequestAsync(client, options, streaming);
        }

        Assert.True(RawMetadata.StoreOf(inner.LastRaw));
        Assert.Equal("app", RawMetadata.Of(inner.LastRaw)["dify_app_id"]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData("false")]
    public async Task AdditionalPropertiesStoreFalse_ReachesTheWire_NothingAttached(object flag)
    {
        var (client, inner) = Create(StandInApi.ChatCompletions);
        var options = new ChatOptions { AdditionalProperties = new() { ["store"] = flag } };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.False(inner.LastChat.StoredOutputEnabled);
        Assert.Empty(inner.LastChat.Metadata);
        Assert.Same(flag, inner.LastOptions!.AdditionalProperties!["store"]); // the caller's own flag, as given
        Assert.Null(options.RawRepresentationFactory);
    }

    [Theory]
    [InlineData(DifyStorePolicy.EnableWhenUnset)]
    [InlineData(DifyStorePolicy.LeaveUnset)]
    public async Task AdditionalPropertiesStoreFalseAsJson_ReachesTheResponsesWire(DifyStorePolicy policy)
    {
        // Absent store means "stored" on the Responses API: the caller's false must be on the wire, under either policy.
        var (client, inner) = Create(StandInApi.Responses, o => o.StorePolicy = policy);
        var options = new ChatOptions { AdditionalProperties = new() { ["Store"] = JsonSerializer.SerializeToElement(false) } };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.False(inner.LastResponses.StoredOutputEnabled);
        Assert.Empty(inner.LastResponses.Metadata);
    }

    [Fact]
    public async Task LeaveUnset_ChatCompletions_AttachesNothingAndLeavesStoreUnset()
    {
        var logger = new FakeLogger();
        var (client, inner) = Create(StandInApi.ChatCompletions, o => o.StorePolicy = DifyStorePolicy.LeaveUnset, logger);

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Null(inner.LastChat.StoredOutputEnabled);
        Assert.Empty(inner.LastChat.Metadata);
        Assert.IsType<DifyRequestDecision>(inner.LastOptions!.RawRepresentationFactory!.Target); // the decision goes on: an inner layer sees it
        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Message.Contains("store policy leaves it unset", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LeaveUnset_Responses_AttachesMetadataAndLeavesStoreUnset()
    {
        var (client, inner) = Create(StandInApi.Responses, o => o.StorePolicy = DifyStorePolicy.LeaveUnset);

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Null(inner.LastResponses.StoredOutputEnabled);
        Assert.Equal("app", inner.LastResponses.Metadata["dify_app_id"]);
    }

    [Fact]
    public async Task LeaveUnset_CallerAskedStoreThroughAdditionalProperties_IsTagged()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions, o => o.StorePolicy = DifyStorePolicy.LeaveUnset);
        var options = new ChatOptions { AdditionalProperties = new() { ["store"] = true } };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.True(inner.LastChat.StoredOutputEnabled);
        Assert.Equal("app", inner.LastChat.Metadata["dify_app_id"]);
    }

    // ---- merge and limits ----

    [Fact]
    public async Task Merge_CallerCannotSpoofReservedKeys()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions { StoredOutputEnabled = true };
                raw.Metadata["dify_app_id"] = "someone-else";
                raw.Metadata["dify_source"] = "spoofed";
                return raw;
            },
        };

        using (DifySession.Begin("real"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.Equal(
            new SortedDictionary<string, string> { ["dify_app_id"] = "real", ["dify_source"] = "dify" },
            new SortedDictionary<string, string>(inner.LastChat.Metadata));
    }

    [Fact]
    public async Task Merge_Caller16Keys_NewestGivesWayWithWarning()
    {
        var logger = new FakeLogger();
        var (client, inner) = Create(StandInApi.ChatCompletions, logger: logger);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions();
                for (int i = 0; i < 16; i++)
                {
                    raw.Metadata[$"k{i:00}"] = $"v{i}";
                }

                return raw;
            },
        };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        IDictionary<string, string> sent = inner.LastChat.Metadata;
        Assert.Equal(16, sent.Count);
        Assert.Equal("app", sent["dify_app_id"]);
        Assert.False(sent.ContainsKey("dify_source"));
        Assert.False(sent.ContainsKey("k15"));
        Assert.True(sent.ContainsKey("k14"));
        FakeLogRecord warning = Assert.Single(logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning);
        Assert.Contains("k15", warning.Message, StringComparison.Ordinal);
    }

    // ---- the AdditionalProperties channel ----

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task AdditionalProperties_CarryMetadataAndStore(StandInApi api, bool streaming)
    {
        var (client, inner) = Create(api);

        using (DifySession.Begin("app"))
        {
            await Send.RequestAsync(client, null, streaming);
        }

        AdditionalPropertiesDictionary properties = inner.LastOptions!.AdditionalProperties!;
        var metadata = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(properties["metadata"]);
        Assert.Equal(new Dictionary<string, string> { ["dify_app_id"] = "app", ["dify_source"] = "dify" }, metadata);
        Assert.False(metadata is IDictionary<string, string> { IsReadOnly: false });
        Assert.Equal(true, properties["store"]);
    }

    [Fact]
    public async Task AdditionalProperties_SwitchedOff_AreNotWritten()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions, o => o.AdditionalPropertiesEnabled = false);

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Null(inner.LastOptions!.AdditionalProperties);
        Assert.Equal("app", inner.LastChat.Metadata["dify_app_id"]); // the wire channel still works
    }

    [Fact]
    public async Task AdditionalProperties_CallerMetadata_IsMergedIntoANewObject()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions);
        var callerMetadata = new Dictionary<string, string> { ["team"] = "search", ["dify_app_id"] = "spoof" };
        var options = new ChatOptions { AdditionalProperties = new() { ["metadata"] = callerMetadata } };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        var merged = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(inner.LastOptions!.AdditionalProperties!["metadata"]);
        Assert.Equal(new Dictionary<string, string> { ["team"] = "search", ["dify_app_id"] = "app", ["dify_source"] = "dify" }, merged);
        Assert.Equal(new Dictionary<string, string> { ["team"] = "search", ["dify_app_id"] = "spoof" }, callerMetadata);
        Assert.Same(callerMetadata, options.AdditionalProperties["metadata"]);
    }

    [Fact]
    public async Task AdditionalProperties_CallerMetadataNotADictionary_IsReplacedWithWarning()
    {
        var logger = new FakeLogger();
        var (client, inner) = Create(StandInApi.ChatCompletions, logger: logger);
        var options = new ChatOptions { AdditionalProperties = new() { ["metadata"] = 42 } };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        var merged = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(inner.LastOptions!.AdditionalProperties!["metadata"]);
        Assert.Equal(new Dictionary<string, string> { ["dify_app_id"] = "app", ["dify_source"] = "dify" }, merged);
        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("System.Int32", StringComparison.Ordinal));
    }

    // ---- one set of keys, however often options pass ----

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task TwoLayers_GiveOneSetOfKeys(StandInApi api, bool streaming)
    {
        var inner = new OpenAIStandInClient(api);
        var innerLayer = new DifyMetadataChatClient(inner);
        var outerLayer = new DifyMetadataChatClient(innerLayer, new DifyMetadataOptions { Source = "outer" });

        using (DifySession.Begin("app"))
        {
            await Send.RequestAsync(outerLayer, null, streaming);
        }

        Assert.Equal(new Dictionary<string, string> { ["dify_app_id"] = "app", ["dify_source"] = "outer" }, RawMetadata.Of(inner.LastRaw));
    }

    [Fact]
    public async Task SameOptionsTwice_FactoryDoesNotGrow()
    {
        var (client, inner) = Create(StandInApi.ChatCompletions);
        var options = new ChatOptions();

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
            ChatOptions firstPass = inner.LastOptions!;
            await client.GetResponseAsync("hi", firstPass); // e.g. a loop handing the tagged options back in
            Assert.NotSame(firstPass, inner.LastOptions); // a new call of this layer: decided (and recorded) again
            Assert.Null(((DifyRequestDecision)inner.LastOptions!.RawRepresentationFactory!.Target!).CallerFactory); // not chained
        }

        Assert.Equal(2, inner.LastChat.Metadata.Count);
    }

    // ---- logging ----

    [Fact]
    public async Task Logging_AttachedAtDebug_NeverAboveDebug()
    {
        var logger = new FakeLogger();
        var (client, _) = Create(StandInApi.ChatCompletions, logger: logger);

        using (DifySession.Begin("secret-tenant"))
        {
            await client.GetResponseAsync("hi");
        }

        IReadOnlyList<FakeLogRecord> records = logger.Collector.GetSnapshot();
        Assert.Contains(records, r => r.Level == LogLevel.Debug && r.Message.Contains("secret-tenant", StringComparison.Ordinal));
        Assert.DoesNotContain(records, r => r.Level > LogLevel.Debug && r.Message.Contains("secret-tenant", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Logging_NoSession_SaysWhy()
    {
        var logger = new FakeLogger();
        var (client, _) = Create(StandInApi.ChatCompletions, logger: logger);

        await client.GetResponseAsync("hi");

        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Debug && r.Message.Contains("no session", StringComparison.Ordinal));
    }

    // ---- construction ----

    [Fact]
    public void Constructor_NullInner_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => new DifyMetadataChatClient(null!));
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsWithReason()
    {
        ArgumentException ex = Assert.Throws<ArgumentException>(() =>
            new DifyMetadataChatClient(new TestChatClient(), new DifyMetadataOptions { Source = new string('x', 600) }));
        Assert.Contains("512", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetService_ReturnsTheLayer()
    {
        var client = new DifyMetadataChatClient(new TestChatClient());

        Assert.Same(client, client.GetService<DifyMetadataChatClient>());
    }

    [Fact]
    public async Task OptionsChangedAfterConstruction_AreNotSeen()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var options = new DifyMetadataOptions();
        var client = new DifyMetadataChatClient(inner, options);
        options.Enabled = false;

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal("app", inner.LastChat.Metadata["dify_app_id"]);
    }
}
