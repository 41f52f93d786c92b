using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Text.Json.Nodes;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Testing;
using OpenAI.Chat;
using OpenAI.Responses;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace MeaiMetadata.Tests.Decision;

/// <summary>The one decision per request, as each channel sees it: the defects of issue "One decision per request".</summary>
public sealed class DifyDeciderTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    public void Dispose() => _services.Dispose();

    public static TheoryData<StandInApi, bool> AllPaths => new()
    {
        { StandInApi.ChatCompletions, false },
        { StandInApi.ChatCompletions, true },
        { StandInApi.Responses, false },
        { StandInApi.Responses, true },
    };

    private MetricCollector<long> Requests() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);

    private static List<(string? Outcome, string? AppId)> Outcomes(MetricCollector<long> requests) =>
        [.. requests.GetMeasurementSnapshot().SelectMany(m => Enumerable.Repeat(
            (m.Tags["outcome"] as string, m.Tags.TryGetValue("dify.app_id", out object? app) ? app as string : null), (int)m.Value))];

    // ---- 2. an ended session tags nothing, through any channel ----

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task EndedSession_TaskRunningAfterDispose_TagsNothing(bool propagateAsBaggage, bool childActivityOpenAtDispose)
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner);
        var release = new TaskCompletionSource();
        using var source = new ActivitySource("test.ended-session");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == source.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);

        Task<ChatOptions?> late;
        Activity? child = null;
        using (DifySession.Begin("ended-app", propagateAsBaggage))
        {
            if (childActivityOpenAtDispose)
            {
                child = source.StartActivity("child still open");
            }

            late = Task.Run(async () =>
            {
                await release.Task;
                await client.GetResponseAsync("hi");
                return inner.LastOptions;
            });
        }

        release.SetResult();
        ChatOptions? sent = await late;
        child?.Dispose();

        Assert.Empty(inner.LastChat.Metadata);
        Assert.Null(inner.LastChat.StoredOutputEnabled);
        Assert.Null(sent?.AdditionalProperties?.GetValueOrDefault("metadata"));
        Assert.Null(child?.GetTagItem("dify.app_id"));
    }

    // ---- 3. a request carries the app of the session current when it is made ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task NestedSessionInATool_SubRequestCarriesTheInnerApp_OuterRequestsTheOuterApp(bool streaming)
    {
        var wire = new List<(string? App, bool Tool)>();
        (IChatClient client, AIFunction tool) = ToolCallingClient.Pipeline(wire, async pipeline =>
        {
            using (DifySession.Begin("sub-app"))
            {
                ChatResponse sub = await pipeline.GetResponseAsync("sub question", FunctionInvokingChatClient.CurrentContext!.Options);
                return sub.Text;
            }
        });

        using (DifySession.Begin("outer-app"))
        {
            await Send.RequestAsync(client, new ChatOptions { Tools = [tool] }, streaming);
        }

        // The first outer request asks for the tool; the tool's sub-request; the outer request that answers.
        Assert.Equal(["outer-app", "sub-app", "outer-app"], wire.Select(w => w.App));
    }

    // ---- 4. channels agree ----

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task CallerRawStoreFalse_WireHasNone_InnerLayersSeeTheLayersOwnChoice_LogSaysSo(StandInApi api, bool streaming)
    {
        // The caller's raw options decide after the layer ran: the wire keeps their store:false and carries no metadata;
        // the AdditionalProperties channel (read by inner layers before the raw options exist) carries the layer's own
        // dify_app_id, never another; the request is counted store_disabled; the log says the raw options decided.
        var logger = new FakeLogger();
        var inner = new OpenAIStandInClient(api);
        using MetricCollector<long> requests = Requests();
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions(), logger, MeterFactory);
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

        Assert.False(RawMetadata.StoreOf(inner.LastRaw));
        Assert.Empty(RawMetadata.Of(inner.LastRaw));
        var apMetadata = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(inner.LastOptions!.AdditionalProperties!["metadata"]);
        Assert.Equal("app", apMetadata["dify_app_id"]);
        Assert.Equal(("store_disabled", "app"), Assert.Single(Outcomes(requests)));
        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Message.Contains("not attached after all", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(StandInApi.ChatCompletions, DifyStorePolicy.EnableWhenUnset, false)]
    [InlineData(StandInApi.Responses, DifyStorePolicy.EnableWhenUnset, false)]
    [InlineData(StandInApi.ChatCompletions, DifyStorePolicy.LeaveUnset, null)]
    [InlineData(StandInApi.Responses, DifyStorePolicy.LeaveUnset, null)]
    [InlineData(StandInApi.Responses, DifyStorePolicy.LeaveUnset, false)]
    public async Task CallerApMetadataNamingAnotherApp_NeverReachesInnerLayers(StandInApi api, DifyStorePolicy policy, bool? store)
    {
        var inner = new OpenAIStandInClient(api);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { StorePolicy = policy });
        var options = new ChatOptions { AdditionalProperties = new() { ["metadata"] = new Dictionary<string, string> { ["dify_app_id"] = "victim-app", ["dify_source"] = "forged", ["team"] = "search" } } };
        if (store is bool flag)
        {
            options.AdditionalProperties["store"] = flag;
        }

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        var seen = Assert.IsAssignableFrom<IEnumerable<KeyValuePair<string, string>>>(inner.LastOptions!.AdditionalProperties!["metadata"]).ToDictionary();
        Assert.Equal("search", seen["team"]);
        Assert.NotEqual("victim-app", seen.GetValueOrDefault("dify_app_id"));
        Assert.NotEqual("forged", seen.GetValueOrDefault("dify_source"));
        Assert.DoesNotContain("victim-app", RawMetadata.Of(inner.LastRaw).Values);
    }

    // ---- 5. an explicit store:false, in whichever channel, is on the wire ----

    [Theory]
    [InlineData(StandInApi.ChatCompletions, DifyStorePolicy.EnableWhenUnset)]
    [InlineData(StandInApi.ChatCompletions, DifyStorePolicy.LeaveUnset)]
    [InlineData(StandInApi.Responses, DifyStorePolicy.EnableWhenUnset)]
    [InlineData(StandInApi.Responses, DifyStorePolicy.LeaveUnset)]
    public async Task ApStoreFalse_IsOnTheWire(StandInApi api, DifyStorePolicy policy)
    {
        foreach (object flag in new object[] { false, "false", JsonSerializer.SerializeToElement(false), JsonValue.Create(false) })
        {
            var inner = new OpenAIStandInClient(api);
            var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { StorePolicy = policy });

            using (DifySession.Begin("app"))
            {
                await client.GetResponseAsync("hi", new ChatOptions { AdditionalProperties = new() { ["store"] = flag } });
            }

            Assert.False(RawMetadata.StoreOf(inner.LastRaw));
            Assert.Empty(RawMetadata.Of(inner.LastRaw));
        }
    }

    // ---- 6. one outcome per model request sent ----

    [Fact]
    public async Task StreamNeverEnumerated_CountsNothing()
    {
        using MetricCollector<long> requests = Requests();
        var client = new DifyMetadataChatClient(new OpenAIStandInClient(StandInApi.ChatCompletions), null, null, MeterFactory);

        using (DifySession.Begin("app"))
        {
            _ = client.GetStreamingResponseAsync("hi");
            _ = client.GetStreamingResponseAsync("hi", new ChatOptions());
        }

        _ = client.GetStreamingResponseAsync("no session");
        Assert.Empty(Outcomes(requests));
    }

    [Fact]
    public async Task BackgroundResponsePoll_CountsNothing_SendsNoTags()
    {
        using MetricCollector<long> requests = Requests();
        var inner = new OpenAIStandInClient(StandInApi.Responses);
        var client = new DifyMetadataChatClient(inner, null, null, MeterFactory);
        var poll = new ChatOptions { ContinuationToken = ResponseContinuationToken.FromBytes(new byte[] { 1, 2, 3 }) };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync([], poll);
        }

        Assert.Same(poll, inner.LastOptions);
        Assert.Empty(Outcomes(requests));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CallerChatOptionsToAResponsesClient_TheWireIsTagged_CountedAttached(bool streaming)
    {
        using MetricCollector<long> requests = Requests();
        var inner = new OpenAIStandInClient(StandInApi.Responses);
        var client = new DifyMetadataChatClient(inner, null, null, MeterFactory);
        var wrong = new ChatCompletionOptions();

        using (DifySession.Begin("app"))
        {
            await Send.RequestAsync(client, new ChatOptions { RawRepresentationFactory = _ => wrong }, streaming);
        }

        Assert.Equal("app", inner.LastResponses.Metadata["dify_app_id"]);
        Assert.Empty(wrong.Metadata);
        Assert.Equal(("attached", "app"), Assert.Single(Outcomes(requests)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ProviderThatNeverCallsTheFactory_CountedUnsupportedProvider(bool streaming)
    {
        using MetricCollector<long> requests = Requests();
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"))),
            GetStreamingResponseAsyncCallback = (_, _, _) => new[] { new ChatResponseUpdate(ChatRole.Assistant, "ok") }.ToAsyncEnumerable(),
        };
        var client = new DifyMetadataChatClient(inner, null, null, MeterFactory);

        using (DifySession.Begin("app"))
        {
            Assert.Equal("ok", await Send.RequestAsync(client, new ChatOptions(), streaming));
        }

        Assert.Equal(("unsupported_provider", "app"), Assert.Single(Outcomes(requests)));
    }

    [Fact]
    public async Task ToolLoopInsideTheLayer_OneOutcomePerModelRequest()
    {
        using MetricCollector<long> requests = Requests();
        var wire = new List<(string? App, bool Tool)>();
        var tool = AIFunctionFactory.Create(() => "sunny", "get_weather");
        IChatClient client = new ChatClientBuilder(new ToolCallingClient(wire))
            .Use(inner => new DifyMetadataChatClient(inner, null, null, MeterFactory))
            .UseFunctionInvocation()
            .Build();

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", new ChatOptions { Tools = [tool] });
        }

        Assert.Equal(2, wire.Count);
        Assert.Equal([("attached", "app"), ("attached", "app")], Outcomes(requests));
    }

    // ---- 7. nothing a caller hands in fails a request ----

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task HostileCallerInputs_NeverFailTheRequest(StandInApi api, bool streaming)
    {
        JsonDocument disposed = JsonDocument.Parse("{\"store\": false, \"metadata\": {\"team\": \"search\"}}");
        JsonElement disposedStore = disposed.RootElement.GetProperty("store");
        JsonElement disposedMetadata = disposed.RootElement.GetProperty("metadata");
        disposed.Dispose();

        ChatOptions[] hostile =
        [
            new() { AdditionalProperties = new() { ["store"] = disposedStore } },
            new() { AdditionalProperties = new() { ["metadata"] = disposedMetadata } },
            new() { AdditionalProperties = new() { ["metadata"] = new ThrowingDictionary() } },
            new() { AdditionalProperties = new() { ["metadata"] = new Dictionary<string, object?> { ["k"] = new HostileValue() } } },
            new() { AdditionalProperties = new() { ["store"] = new HostileValue(), ["metadata"] = new HostileValue() } },
            new HostileOptions(),
        ];

        foreach (ChatOptions options in hostile)
        {
            var logger = new FakeLogger();
            var inner = new OpenAIStandInClient(api);
            var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions(), logger);
            using (DifySession.Begin("app"))
            {
                Assert.Equal("ok", await Send.RequestAsync(client, options, streaming));
            }
        }
    }

    // ---- 8. the bound on app ids holds per meter, whatever the DI lifetime ----

    [Fact]
    public async Task ScopedPipeline_MaxMetricAppIds_HoldsPerMeter()
    {
        var services = new ServiceCollection().AddMetrics();
        services.AddChatClient(_ => new OpenAIStandInClient(StandInApi.ChatCompletions), ServiceLifetime.Scoped)
            .UseDifyMetadata(o => o.MaxMetricAppIds = 2);
        using ServiceProvider provider = services.BuildServiceProvider();
        using var requests = new MetricCollector<long>(provider.GetRequiredService<IMeterFactory>(), DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);

        for (int i = 0; i < 5; i++)
        {
            using IServiceScope scope = provider.CreateScope();
            using (DifySession.Begin("app-" + i))
            {
                await scope.ServiceProvider.GetRequiredService<IChatClient>().GetResponseAsync("hi");
            }
        }

        Assert.Equal(["app-0", "app-1", "other", "other", "other"], Outcomes(requests).Select(o => o.AppId));
    }

    // ---- 9. every JSON shape of a string map merges ----

    public static TheoryData<string, object> JsonShapes => new()
    {
        { "JsonElement", JsonSerializer.SerializeToElement(new Dictionary<string, object> { ["team"] = "search", ["tier"] = 2 }) },
        { "JsonObject", new JsonObject { ["team"] = "search", ["tier"] = 2 } },
        { "JsonNode.Parse", JsonNode.Parse("{\"team\":\"search\",\"tier\":2}")! },
        { "JsonDocument", JsonDocument.Parse("{\"team\":\"search\",\"tier\":2}") },
        { "JSON text", "{\"team\":\"search\",\"tier\":2}" },
    };

    [Theory]
    [MemberData(nameof(JsonShapes))]
    public async Task CallerApMetadata_EveryJsonShape_Merges(string shape, object metadata)
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner);

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", new ChatOptions { AdditionalProperties = new() { ["metadata"] = metadata } });
        }

        var merged = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(inner.LastOptions!.AdditionalProperties!["metadata"]);
        Assert.True(
            merged.Count == 4 && merged["team"] == "search" && merged["tier"] == "2" && merged["dify_app_id"] == "app",
            $"{shape}: {string.Join(", ", merged)}");
    }

    // ---- found by the review: each failed before its fix ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ChatOptionsReusedInAResponsesPipeline_SameApp_TheResponsesWireIsTagged(bool streaming)
    {
        using MetricCollector<long> requests = Requests();
        var responses = new OpenAIStandInClient(StandInApi.Responses);
        IChatClient responsesPipeline = new ChatClientBuilder(responses).Use(i => new DifyMetadataChatClient(i, null, null, MeterFactory)).Build();
        var tool = AIFunctionFactory.Create(
            async () => (await Send.RequestAsync(responsesPipeline, FunctionInvokingChatClient.CurrentContext!.Options, streaming)),
            "lookup");
        IChatClient chatPipeline = new ChatClientBuilder(new ToolCallingClient([]))
            .Use(i => new DifyMetadataChatClient(i, null, null, MeterFactory))
            .UseFunctionInvocation()
            .Build();

        using (DifySession.Begin("app-1"))
        {
            await chatPipeline.GetResponseAsync("outer", new ChatOptions { Tools = [tool] });
        }

        Assert.Equal("app-1", responses.LastResponses.Metadata["dify_app_id"]);
        Assert.Equal(3, Outcomes(requests).Count(o => o == ("attached", "app-1"))); // two Chat Completions, one Responses
    }

    [Fact]
    public async Task OptionsCapturedInASession_SentAfterItEnded_ByAClientWithoutTheLayer_TagNothing()
    {
        using MetricCollector<long> requests = Requests();
        ChatOptions? captured = null;
        var tool = AIFunctionFactory.Create(() => { captured = FunctionInvokingChatClient.CurrentContext!.Options; return "ok"; }, "lookup");
        IChatClient pipeline = new ChatClientBuilder(new ToolCallingClient([]))
            .Use(i => new DifyMetadataChatClient(i, null, null, MeterFactory))
            .UseFunctionInvocation()
            .Build();
        using (DifySession.Begin("ended-app"))
        {
            await pipeline.GetResponseAsync("outer", new ChatOptions { Tools = [tool] });
        }

        int before = Outcomes(requests).Count;
        var plain = new OpenAIStandInClient(StandInApi.ChatCompletions);
        await plain.GetResponseAsync("late", captured);

        Assert.Empty(plain.LastChat.Metadata);
        Assert.Null(plain.LastChat.StoredOutputEnabled);
        Assert.DoesNotContain(Outcomes(requests).Skip(before), o => o.AppId == "ended-app");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task NothingSent_NothingCounted_PreCancelledToken_OrALayerInsideAnswering(bool streaming)
    {
        using MetricCollector<long> requests = Requests();
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var honouringTheToken = new TestChatClient
        {
            // As the OpenAI clients do: raw options first, then the send, which throws for a cancelled token.
            GetResponseAsyncCallback = (m, o, ct) => { _ = o?.RawRepresentationFactory?.Invoke(inner); ct.ThrowIfCancellationRequested(); return inner.GetResponseAsync(m, o, ct); },
            GetStreamingResponseAsyncCallback = (m, o, ct) => { _ = o?.RawRepresentationFactory?.Invoke(inner); ct.ThrowIfCancellationRequested(); return inner.GetStreamingResponseAsync(m, o, ct); },
            GetServiceCallback = (t, k) => inner.GetService(t, k),
        };
        IChatClient tagging = new DifyMetadataChatClient(honouringTheToken, null, null, MeterFactory);
        var cached = new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"));
        IChatClient cache = new ChatClientBuilder(inner)
            .Use(i => new DifyMetadataChatClient(i, null, null, MeterFactory))
            .Use((_, _, _, _) => Task.FromResult(cached), (_, _, _, _) => cached.ToChatResponseUpdates().ToAsyncEnumerable())
            .Build();

        using (DifySession.Begin("app-c"))
        {
            using var cancelled = new CancellationTokenSource();
            await cancelled.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Send.RequestAsync(tagging, new ChatOptions(), streaming, cancelled.Token));
            await Send.RequestAsync(cache, new ChatOptions(), streaming);
        }

        using var cancelledOutside = new CancellationTokenSource();
        await cancelledOutside.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Send.RequestAsync(tagging, new ChatOptions(), streaming, cancelledOutside.Token));

        Assert.Empty(Outcomes(requests));
    }

    [Fact]
    public async Task TwoLayersWithDifferentApps_OneWireRequest_OneOutcome_TheInnerApp()
    {
        using MetricCollector<long> requests = Requests();
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        IChatClient client = new ChatClientBuilder(inner)
            .Use(i => new DifyMetadataChatClient(i, new DifyMetadataOptions { AppIdResolver = () => "outer-x" }, null, MeterFactory))
            .Use(i => new DifyMetadataChatClient(i, new DifyMetadataOptions { AppIdResolver = () => "inner-y" }, null, MeterFactory))
            .Build();

        await client.GetResponseAsync("hi", new ChatOptions());

        Assert.Equal("inner-y", inner.LastChat.Metadata["dify_app_id"]);
        Assert.Equal(("attached", "inner-y"), Assert.Single(Outcomes(requests)));
    }

    [Fact]
    public async Task AToolWrapsTheReusedFactory_EachWireRequestCountedOnce_ForItsOwnApp()
    {
        using MetricCollector<long> requests = Requests();
        var wire = new List<(string? App, bool Tool)>();
        IChatClient client = null!;
        var tool = AIFunctionFactory.Create(
            async () =>
            {
                ChatOptions options = FunctionInvokingChatClient.CurrentContext!.Options!.Clone();
                Func<IChatClient, object?> previous = options.RawRepresentationFactory!;
                options.RawRepresentationFactory = c => previous(c) is ChatCompletionOptions raw ? Tweak(raw) : null;
                using (DifySession.Begin("sub"))
                {
                    return (await client.GetResponseAsync("sub question", options)).Text;
                }
            },
            "lookup");
        client = new ChatClientBuilder(new ToolCallingClient(wire))
            .Use(i => new DifyMetadataChatClient(i, null, null, MeterFactory))
            .UseFunctionInvocation()
            .Build();

        using (DifySession.Begin("outer"))
        {
            await client.GetResponseAsync("hi", new ChatOptions { Tools = [tool] });
        }

        Assert.Equal(["outer", "sub", "outer"], wire.Select(w => w.App));
        Assert.Equal([("attached", "outer"), ("attached", "outer"), ("attached", "sub")], Outcomes(requests).Order());

        static ChatCompletionOptions Tweak(ChatCompletionOptions raw)
        {
            raw.Temperature = 0.5f;
            return raw;
        }
    }

    [Theory]
    [InlineData("real-app")]
    public async Task DecisionFails_TheCallersOwnDifyAppIdStillNeverReachesTheWire(string session)
    {
        JsonDocument document = JsonDocument.Parse("{\"store\": true}");
        JsonElement disposedStore = document.RootElement.GetProperty("store");
        document.Dispose();
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions { StoredOutputEnabled = true };
                raw.Metadata["dify_app_id"] = "victim";
                raw.Metadata["team"] = "search";
                return raw;
            },
            AdditionalProperties = new() { ["store"] = disposedStore },
        };

        using (DifySession.Begin(session))
        {
            Assert.Equal("ok", await Send.RequestAsync(new DifyMetadataChatClient(inner), options, streaming: false));
        }

        Assert.False(inner.LastChat.Metadata.ContainsKey("dify_app_id"));
        Assert.Equal("search", inner.LastChat.Metadata["team"]);
    }

    [Fact]
    public async Task ACloneThatReturnsTheSameInstance_TheCallersObjectIsNotChanged()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var options = new SelfCloningOptions();

        using (DifySession.Begin("app"))
        {
            Assert.Equal("ok", await Send.RequestAsync(new DifyMetadataChatClient(inner), options, streaming: false));
        }

        Assert.Null(options.RawRepresentationFactory);
        Assert.Null(options.AdditionalProperties);
    }

    [Fact]
    public async Task JsonTextInsideAJsonStringElement_Merges()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        using (DifySession.Begin("app"))
        {
            await new DifyMetadataChatClient(inner).GetResponseAsync(
                "hi", new ChatOptions { AdditionalProperties = new() { ["metadata"] = JsonSerializer.SerializeToElement("{\"team\":\"t1\"}") } });
        }

        var merged = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(inner.LastOptions!.AdditionalProperties!["metadata"]);
        Assert.Equal("t1", merged["team"]);
    }

    private sealed class SelfCloningOptions : ChatOptions
    {
        public override ChatOptions Clone() => this;
    }

    /// <summary>A provider that asks for one tool call per request without a tool result, and reports each request's app.</summary>
    private sealed class ThrowingDictionary : IEnumerable<KeyValuePair<string, string>>
    {
        public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => throw new InvalidOperationException("hostile enumeration");

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    private sealed class HostileValue : IFormattable
    {
        public override string ToString() => throw new InvalidOperationException("hostile ToString");

        public string ToString(string? format, IFormatProvider? formatProvider) => throw new InvalidOperationException("hostile ToString");

        public override bool Equals(object? obj) => throw new InvalidOperationException("hostile Equals");

        public override int GetHashCode() => throw new InvalidOperationException("hostile GetHashCode");
    }

    // ---- the AdditionalProperties channel when nothing inside the layer reads it ----

    public static TheoryData<StandInApi, bool> BothApis => AllPaths;

    private static IChatClient RealOpenAIClient(StandInApi api) => api == StandInApi.ChatCompletions
        ? new ChatClient("gpt-4o-mini", new System.ClientModel.ApiKeyCredential("k")).AsIChatClient()
        : new ResponsesClient(new System.ClientModel.ApiKeyCredential("k")).AsIChatClient("gpt-4o-mini");

    private static ChatOptions? DecideOver(IChatClient inner, ChatOptions? options, bool streaming, DifyMetadataOptions? layerOptions = null)
    {
        DifyMetadataSettings settings = DifyMetadataSettings.Create(layerOptions ?? new DifyMetadataOptions(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.NotNull(MeaiMetadata.Decision.DifyDecider.Decide(
            settings, inner, options, streaming, out ChatOptions? sent, out _, MeaiMetadata.Providers.OpenAIProviderClients.Is(inner)));
        return sent;
    }

    [Theory]
    [MemberData(nameof(BothApis))]
    public void InnermostOverTheOpenAIClient_NoChannelWritten_TheRawOptionsCarryTheDecision(StandInApi api, bool streaming)
    {
        // Microsoft.Extensions.AI.OpenAI's own client reads neither entry (pinned on the wire by DifyMetadataWireTests):
        // with nothing else inside, the layer writes what the recipe writes, the factory.
        IChatClient provider = RealOpenAIClient(api);
        using IDisposable session = DifySession.Begin("inner-app");

        ChatOptions sent = DecideOver(provider, null, streaming)!;

        Assert.Null(sent.AdditionalProperties);
        object? raw = sent.RawRepresentationFactory!(provider);
        Assert.Equal("inner-app", RawMetadata.Of(raw)["dify_app_id"]);
        Assert.True(RawMetadata.StoreOf(raw));
    }

    [Theory]
    [MemberData(nameof(BothApis))]
    public void InnermostOverTheOpenAIClient_CallerEntries_AreStillCorrected(StandInApi api, bool streaming)
    {
        // What the caller put in the channel is still made the layer's: no dify_app_id the layer did not choose, and the
        // caller's store flag as decided.
        IChatClient provider = RealOpenAIClient(api);
        var options = new ChatOptions { AdditionalProperties = new() { ["metadata"] = new Dictionary<string, string> { ["dify_app_id"] = "victim", ["team"] = "a" } } };
        using IDisposable session = DifySession.Begin("inner-app");

        ChatOptions sent = DecideOver(provider, options, streaming)!;

        var metadata = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(sent.AdditionalProperties!["metadata"]);
        Assert.Equal("inner-app", metadata["dify_app_id"]);
        Assert.Equal("a", metadata["team"]);
        Assert.Equal(true, sent.AdditionalProperties["store"]);
        Assert.Equal("victim", ((Dictionary<string, string>)options.AdditionalProperties["metadata"]!)["dify_app_id"]); // the caller's, untouched
    }

    [Theory]
    [MemberData(nameof(BothApis))]
    public void InnermostOverTheOpenAIClient_NoMappingServesIt_TheChannelIsWritten(StandInApi api, bool streaming)
    {
        // Mappings removed: the raw options carry nothing (unsupported_provider), so the channel is all the request has.
        IChatClient provider = RealOpenAIClient(api);
        var layerOptions = new DifyMetadataOptions();
        layerOptions.ProviderMappings.Clear();
        using IDisposable session = DifySession.Begin("inner-app");

        ChatOptions sent = DecideOver(provider, null, streaming, layerOptions)!;

        var metadata = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(sent.AdditionalProperties!["metadata"]);
        Assert.Equal("inner-app", metadata["dify_app_id"]);
    }

    [Theory]
    [MemberData(nameof(BothApis))]
    public void LayerBetween_TheChannelIsWritten(StandInApi api, bool streaming)
    {
        // Any layer inside (here a pass-through over the same client) may read the channel: it gets the decision.
        IChatClient between = new ChatClientBuilder(RealOpenAIClient(api)).Use((messages, options, next, token) => next(messages, options, token)).Build();
        using IDisposable session = DifySession.Begin("inner-app");

        ChatOptions sent = DecideOver(between, null, streaming)!;

        var metadata = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(sent.AdditionalProperties!["metadata"]);
        Assert.Equal("inner-app", metadata["dify_app_id"]);
        Assert.Equal(true, sent.AdditionalProperties["store"]);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task ShallowCloneOfTheCaller_SharedAdditionalProperties_AreNeverChanged(StandInApi api, bool streaming)
    {
        // A ChatOptions subclass whose Clone() is a MemberwiseClone shares its AdditionalProperties with the clone: the
        // layer must write into a copy, or it removes the caller's per-call app id (the next call would bill the session).
        var inner = new OpenAIStandInClient(api);
        var client = new DifyMetadataChatClient(inner);
        var options = new ShallowOptions { AdditionalProperties = new() { ["team"] = "a" } }.WithDifyAppId("call-app");

        using (DifySession.Begin("session-app"))
        {
            await Send.RequestAsync(client, options, streaming);
            Assert.Equal("call-app", RawMetadata.Of(inner.LastRaw)["dify_app_id"]);
            await Send.RequestAsync(client, options, streaming);
            Assert.Equal("call-app", RawMetadata.Of(inner.LastRaw)["dify_app_id"]);
        }

        Assert.Equal(["dify.app_id", "team"], options.AdditionalProperties!.Keys.Order(StringComparer.Ordinal));
        Assert.DoesNotContain("metadata", options.AdditionalProperties.Keys);
    }

    private sealed class ShallowOptions : ChatOptions
    {
        public override ChatOptions Clone() => (ChatOptions)MemberwiseClone();
    }

    private sealed class HostileOptions : ChatOptions
    {
        public override ChatOptions Clone() => throw new InvalidOperationException("hostile Clone");
    }
}
