using System.ClientModel;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.IntegrationTests.FakeOpenAI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;
using OpenAI.Responses;

#pragma warning disable OPENAI001 // CreateResponseOptions is experimental.

namespace MeaiMetadata.IntegrationTests.Wire;

/// <summary>The middleware through the official OpenAI SDK, asserted on what the strict fake server received.</summary>
public sealed class DifyMetadataWireTests : IClassFixture<FakeOpenAIServerFixture>
{
    private readonly FakeOpenAIServer _server;

    public DifyMetadataWireTests(FakeOpenAIServerFixture fixture)
    {
        _server = fixture.Server;
        _server.Clear();
    }

    public static TheoryData<WireApi, bool> AllPaths => new()
    {
        { WireApi.ChatCompletions, false },
        { WireApi.ChatCompletions, true },
        { WireApi.Responses, false },
        { WireApi.Responses, true },
    };

    private static Dictionary<string, string> Tags(string appId, string source = "dify") =>
        new() { ["dify_app_id"] = appId, ["dify_source"] = source };

    private static Dictionary<string, string> Sorted(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is null ? [] : new SortedDictionary<string, string>(metadata.ToDictionary()).ToDictionary();

    private static object RawOptions(WireApi api, bool? store = null) => api == WireApi.ChatCompletions
        ? new ChatCompletionOptions { StoredOutputEnabled = store }
        : new CreateResponseOptions { StoredOutputEnabled = store };

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task InSession_ExactMetadataAndStoreOnTheWire(WireApi api, bool streaming)
    {
        IChatClient client = OpenAIPipeline.Tagged(_server, api);

        ChatResponse response;
        using (DifySession.Begin("app-42"))
        {
            response = await OpenAIPipeline.SendAsync(client, streaming);
        }

        Assert.Equal("ok", response.Text);
        RecordedRequest wire = Assert.Single(_server.Requests);
        Assert.Equal(200, wire.StatusCode);
        Assert.Equal(streaming, wire.Stream);
        Assert.Equal(Tags("app-42"), wire.Metadata);
        Assert.True(wire.Store);
        Assert.Contains("\"metadata\":{\"dify_app_id\":\"app-42\",\"dify_source\":\"dify\"}", wire.Body, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task ProviderClient_IgnoresTheAdditionalPropertiesEntries(WireApi api, bool streaming)
    {
        // Microsoft.Extensions.AI.OpenAI's own clients read neither entry the layer's AdditionalProperties channel writes,
        // which is why an innermost layer over one writes only the raw options (OpenAIProviderClients). Were a version to
        // start reading them, this test would say so.
        IChatClient provider = OpenAIPipeline.ProviderClient(_server, api);
        var options = new ChatOptions
        {
            AdditionalProperties = new()
            {
                ["metadata"] = new Dictionary<string, string> { ["dify_app_id"] = "from-properties" },
                ["store"] = true,
            },
        };

        await OpenAIPipeline.SendAsync(provider, streaming, options);

        RecordedRequest wire = Assert.Single(_server.Requests);
        Assert.Equal(200, wire.StatusCode);
        Assert.Null(wire.Metadata);
        Assert.Null(wire.Store);
        Assert.DoesNotContain("from-properties", wire.Body, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task Innermost_OrWithALayerBetween_TheChannelIsWrittenTheSameWay(WireApi api, bool streaming)
    {
        // What the layer passes on is the clone of the caller's options: a ChatOptions whose Clone() records its clones
        // shows it. The AdditionalProperties channel is written whatever the inner client is (no client is recognised by
        // its type), and the wire is the same either way.
        var innermost = new RecordingOptions();
        using (DifySession.Begin("app-42"))
        {
            await OpenAIPipeline.SendAsync(OpenAIPipeline.Tagged(_server, api), streaming, innermost);
        }

        var between = new RecordingOptions();
        IChatClient withLayerBetween = new ChatClientBuilder(OpenAIPipeline.ProviderClient(_server, api))
            .UseDifyMetadata()
            .Use((messages, options, next, token) => next(messages, options, token))
            .Build();
        using (DifySession.Begin("app-42"))
        {
            await OpenAIPipeline.SendAsync(withLayerBetween, streaming, between);
        }

        foreach (ChatOptions sent in new[] { Assert.Single(innermost.Clones), Assert.Single(between.Clones) })
        {
            Assert.NotNull(sent.RawRepresentationFactory);
            AdditionalPropertiesDictionary channel = sent.AdditionalProperties!;
            Assert.Equal("app-42", Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(channel["metadata"])["dify_app_id"]);
            Assert.Equal(true, channel["store"]);
        }

        Assert.All(_server.Requests, wire => Assert.Equal(Tags("app-42"), wire.Metadata));
        Assert.Equal(2, _server.Requests.Count);
    }

    private sealed class RecordingOptions : ChatOptions
    {
        private readonly List<ChatOptions> _clones;

        public RecordingOptions()
            : this([])
        {
        }

        private RecordingOptions(List<ChatOptions> clones) => _clones = clones;

        public IReadOnlyList<ChatOptions> Clones => _clones;

        public override ChatOptions Clone()
        {
            var clone = new RecordingOptions(_clones)
            {
                RawRepresentationFactory = RawRepresentationFactory,
                AdditionalProperties = AdditionalProperties?.Clone(),
            };
            _clones.Add(clone);
            return clone;
        }
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task CallAppId_WinsOverTheSession_OnTheWire_NoStrayField(WireApi api, bool streaming)
    {
        IChatClient client = OpenAIPipeline.Tagged(_server, api);

        using (DifySession.Begin("session-app"))
        {
            await OpenAIPipeline.SendAsync(client, streaming, new ChatOptions().WithDifyAppId("router-app"));
        }

        RecordedRequest wire = Assert.Single(_server.Requests);
        Assert.Equal(200, wire.StatusCode);
        Assert.Equal(Tags("router-app"), wire.Metadata);
        Assert.DoesNotContain("dify.app_id", wire.Body, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task NoSession_NoMetadataNoStore(WireApi api, bool streaming)
    {
        IChatClient client = OpenAIPipeline.Tagged(_server, api);

        await OpenAIPipeline.SendAsync(client, streaming);

        RecordedRequest wire = Assert.Single(_server.Requests);
        Assert.Equal(200, wire.StatusCode);
        Assert.Null(wire.Metadata);
        Assert.Null(wire.Store);
        Assert.DoesNotContain("\"store\"", wire.Body, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task CallerStoreFalse_Respected_RequestSucceeds(WireApi api, bool streaming)
    {
        IChatClient client = OpenAIPipeline.Tagged(_server, api);
        var options = new ChatOptions { RawRepresentationFactory = _ => RawOptions(api, store: false) };

        ChatResponse response;
        using (DifySession.Begin("app"))
        {
            response = await OpenAIPipeline.SendAsync(client, streaming, options);
        }

        Assert.Equal("ok", response.Text);
        RecordedRequest wire = Assert.Single(_server.Requests);
        Assert.Equal(200, wire.StatusCode);
        Assert.False(wire.Store);
        Assert.Null(wire.Metadata);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task CallerMetadata_MergedAndSpoofingOverridden(WireApi api, bool streaming)
    {
        IChatClient client = OpenAIPipeline.Tagged(_server, api);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                object raw = RawOptions(api);
                IDictionary<string, string> metadata = raw is ChatCompletionOptions c ? c.Metadata : ((CreateResponseOptions)raw).Metadata;
                metadata["team"] = "search";
                metadata["dify_app_id"] = "spoofed";
                return raw;
            },
        };

        using (DifySession.Begin("real-app"))
        {
            await OpenAIPipeline.SendAsync(client, streaming, options);
        }

        RecordedRequest wire = Assert.Single(_server.Requests);
        Assert.Equal(200, wire.StatusCode);
        Assert.Equal(
            new Dictionary<string, string> { ["dify_app_id"] = "real-app", ["dify_source"] = "dify", ["team"] = "search" },
            Sorted(wire.Metadata));
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task Caller16Keys_StaysWithinLimit_RequestSucceeds(WireApi api, bool streaming)
    {
        IChatClient client = OpenAIPipeline.Tagged(_server, api);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                object raw = RawOptions(api);
                IDictionary<string, string> metadata = raw is ChatCompletionOptions c ? c.Metadata : ((CreateResponseOptions)raw).Metadata;
                for (int i = 0; i < 16; i++)
                {
                    metadata[new string((char)('a' + i), 64)] = new string('v', 512);
                }

                return raw;
            },
        };

        using (DifySession.Begin("app"))
        {
            await OpenAIPipeline.SendAsync(client, streaming, options);
        }

        RecordedRequest wire = Assert.Single(_server.Requests);
        Assert.Equal(200, wire.StatusCode);
        Assert.Equal(16, wire.Metadata!.Count);
        Assert.Equal("app", wire.Metadata["dify_app_id"]);
        Assert.False(wire.Metadata.ContainsKey(new string('p', 64))); // the newest caller key gave way
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task LongAppIdWithPairAtTheLimit_CutCleanly(WireApi api, bool streaming)
    {
        IChatClient client = OpenAIPipeline.Tagged(_server, api);
        string appId = new string('a', 511) + "😀" + new string('b', 100);

        using (DifySession.Begin(appId))
        {
            await OpenAIPipeline.SendAsync(client, streaming);
        }

        RecordedRequest wire = Assert.Single(_server.Requests);
        Assert.Equal(200, wire.StatusCode);
        Assert.Equal(new string('a', 511), wire.Metadata!["dify_app_id"]);
    }

    [Fact]
    public async Task NonAsciiAndPunctuation_ArriveExactly()
    {
        IChatClient client = OpenAIPipeline.Tagged(_server, WireApi.ChatCompletions);
        const string AppId = "Équipe \"Été\"\n应用 😀 <tag>&'";

        using (DifySession.Begin(AppId))
        {
            await OpenAIPipeline.SendAsync(client, streaming: false);
        }

        Assert.Equal(AppId, Assert.Single(_server.Requests).Metadata!["dify_app_id"]);
    }

    [Fact]
    public async Task LoneSurrogateInAppId_ArrivesAsReplacementCharacter()
    {
        IChatClient client = OpenAIPipeline.Tagged(_server, WireApi.Responses);

        using (DifySession.Begin("app\uD800x"))
        {
            await OpenAIPipeline.SendAsync(client, streaming: false);
        }

        Assert.Equal("app\uFFFDx", Assert.Single(_server.Requests).Metadata!["dify_app_id"]);
    }

    [Fact]
    public async Task LeaveUnset_ChatCompletions_Untagged_Succeeds()
    {
        IChatClient client = OpenAIPipeline.Tagged(_server, WireApi.ChatCompletions, o => o.StorePolicy = DifyStorePolicy.LeaveUnset);

        using (DifySession.Begin("app"))
        {
            await OpenAIPipeline.SendAsync(client, streaming: false);
        }

        RecordedRequest wire = Assert.Single(_server.Requests);
        Assert.Equal(200, wire.StatusCode);
        Assert.Null(wire.Store);
        Assert.Null(wire.Metadata);
    }

    [Fact]
    public async Task LeaveUnset_Responses_TaggedWithoutStore()
    {
        IChatClient client = OpenAIPipeline.Tagged(_server, WireApi.Responses, o => o.StorePolicy = DifyStorePolicy.LeaveUnset);

        using (DifySession.Begin("app"))
        {
            await OpenAIPipeline.SendAsync(client, streaming: true);
        }

        RecordedRequest wire = Assert.Single(_server.Requests);
        Assert.Equal(200, wire.StatusCode);
        Assert.Null(wire.Store);
        Assert.Equal(Tags("app"), wire.Metadata);
    }

    [Fact]
    public async Task WithoutTheLayer_HandWrittenMetadataWithoutStore_IsRejected()
    {
        // The strictness the layer protects against: the same request shape, built naively, is a 400.
        IChatClient client = OpenAIPipeline.ProviderClient(_server, WireApi.ChatCompletions);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions();
                raw.Metadata["dify_app_id"] = "app";
                return raw;
            },
        };

        ClientResultException ex = await Assert.ThrowsAsync<ClientResultException>(() => OpenAIPipeline.SendAsync(client, streaming: false, options));
        Assert.Equal(400, ex.Status);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task DependencyInjectionPipeline_ToolRoundTrip_EveryRequestTagged(WireApi api, bool streaming)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddChatClient(_ => OpenAIPipeline.ProviderClient(_server, api))
            .UseFunctionInvocation()
            .UseDifyMetadata()
            .UseOpenTelemetry()
            .UseLogging();
        await using ServiceProvider provider = services.BuildServiceProvider();
        IChatClient client = provider.GetRequiredService<IChatClient>();
        var options = new ChatOptions { Tools = [AIFunctionFactory.Create(() => "sunny", "get_weather")] };

        ChatResponse response;
        using (DifySession.Begin("tool-app"))
        {
            response = await OpenAIPipeline.SendAsync(client, streaming, options, "weather?");
        }

        Assert.Equal("ok", response.Text);
        IReadOnlyList<RecordedRequest> wire = _server.Requests;
        Assert.Equal(2, wire.Count);
        Assert.All(wire, r =>
        {
            Assert.Equal(200, r.StatusCode);
            Assert.Equal(Tags("tool-app"), r.Metadata);
            Assert.True(r.Store);
        });
    }

    [Fact]
    public async Task ConcurrentSessions_EachRequestCarriesItsOwnId()
    {
        IChatClient chat = OpenAIPipeline.Tagged(_server, WireApi.ChatCompletions);
        IChatClient responses = OpenAIPipeline.Tagged(_server, WireApi.Responses);

        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
        {
            using (DifySession.Begin($"app-{i}"))
            {
                await OpenAIPipeline.SendAsync(i % 2 == 0 ? chat : responses, streaming: i % 4 >= 2, text: $"req-{i}");
            }
        })));

        IReadOnlyList<RecordedRequest> wire = _server.Requests;
        Assert.Equal(40, wire.Count);
        Assert.All(wire, r => Assert.Equal(r.LastUserText!.Replace("req-", "app-", StringComparison.Ordinal), r.Metadata!["dify_app_id"]));
    }

    [Fact]
    public async Task ConfigurationToggle_ChangesTheNextRequestsWireBody()
    {
        IConfigurationRoot configuration = new ConfigurationBuilder()
            .AddInMemoryCollection([new("DifyMetadata:Enabled", "true")])
            .Build();
        var services = new ServiceCollection().AddDifyMetadata(configuration.GetSection("DifyMetadata"));
        services.AddChatClient(_ => OpenAIPipeline.ProviderClient(_server, WireApi.ChatCompletions)).UseDifyMetadata();
        await using ServiceProvider provider = services.BuildServiceProvider();
        IChatClient client = provider.GetRequiredService<IChatClient>();

        using (DifySession.Begin("toggled-app"))
        {
            await OpenAIPipeline.SendAsync(client, streaming: false);
            configuration["DifyMetadata:Enabled"] = "false";
            configuration.Reload();
            await OpenAIPipeline.SendAsync(client, streaming: false);
            configuration["DifyMetadata:Enabled"] = "true";
            configuration.Reload();
            await OpenAIPipeline.SendAsync(client, streaming: true);
        }

        IReadOnlyList<RecordedRequest> wire = _server.Requests;
        Assert.Equal(3, wire.Count);
        Assert.Equal(Tags("toggled-app"), wire[0].Metadata);
        Assert.Null(wire[1].Metadata);
        Assert.Null(wire[1].Store);
        Assert.Equal(Tags("toggled-app"), wire[2].Metadata);
    }
}
