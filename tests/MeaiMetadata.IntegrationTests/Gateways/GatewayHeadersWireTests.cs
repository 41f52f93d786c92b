using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.IntegrationTests.FakeOpenAI;
using MeaiMetadata.IntegrationTests.Wire;
using Microsoft.Extensions.AI;
using OpenAI;

#pragma warning disable OPENAI001 // ResponsesClient and AsIChatClient(ResponsesClient) are experimental.

namespace MeaiMetadata.IntegrationTests.Gateways;

/// <summary>The gateway headers through the official OpenAI SDK (<c>AddDifyMetadataHeaders()</c>), as the strict fake received them.</summary>
public sealed class GatewayHeadersWireTests : IClassFixture<FakeOpenAIServerFixture>
{
    private const string Hostile = "evil\r\nX-Injected: 1\0\"quoted\", comma; é 🚀 \u0007";

    private static readonly string Long = string.Concat(Enumerable.Repeat("long-app-", 80)); // 720 chars

    private readonly FakeOpenAIServer _server;

    public GatewayHeadersWireTests(FakeOpenAIServerFixture fixture)
    {
        _server = fixture.Server;
        _server.Clear();
    }

    public static TheoryData<string, string, WireApi, bool> PresetCases()
    {
        var data = new TheoryData<string, string, WireApi, bool>();
        foreach (string preset in new[] { "Helicone", "Portkey", "Cloudflare", "LiteLLM" })
        {
            foreach (string id in new[] { "ordinary", "long", "hostile" })
            {
                data.Add(preset, id, WireApi.ChatCompletions, false);
                data.Add(preset, id, WireApi.Responses, true);
            }
        }

        return data;
    }

    private static IChatClient ProviderClient(FakeOpenAIServer server, WireApi api)
    {
        var options = new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) }.AddDifyMetadataHeaders();
        var openAI = new OpenAIClient(new ApiKeyCredential("test-key"), options);
        return api == WireApi.ChatCompletions
            ? openAI.GetChatClient(OpenAIPipeline.Model).AsIChatClient()
            : openAI.GetResponsesClient().AsIChatClient(OpenAIPipeline.Model);
    }

    private static IChatClient Tagged(IChatClient provider, params string[] gateways) =>
        new ChatClientBuilder(provider).UseDifyMetadata(o =>
        {
            o.GatewayHeaderPrefixes.Add("X-Team-");
            foreach (string gateway in gateways)
            {
                o.GatewayHeaders.Add(gateway);
            }
        }).Build();

    private static string Id(string kind) => kind switch { "long" => Long, "hostile" => Hostile, _ => "support-bot" };

    [Theory]
    [MemberData(nameof(PresetCases))]
    public async Task Preset_HeaderBytesMatchTheDocumentedFormat(string preset, string idKind, WireApi api, bool streaming)
    {
        string id = Id(idKind);
        using (DifySession.Begin(id))
        {
            await OpenAIPipeline.SendAsync(Tagged(ProviderClient(_server, api), preset), streaming);
        }

        RecordedRequest sent = Assert.Single(_server.Requests);
        Assert.Equal(200, sent.StatusCode);
        Assert.Equal(id[..Math.Min(id.Length, 512)], sent.Metadata!["dify_app_id"]);
        Assert.Null(sent.Header("X-Injected"));
        string cut512 = id[..Math.Min(id.Length, 512)];
        switch (preset)
        {
            case "Helicone":
                Assert.Equal(Uri.EscapeDataString(cut512), sent.Header("Helicone-Property-Dify-App-Id"));
                Assert.Equal("dify", sent.Header("Helicone-Property-Dify-Source"));
                break;
            case "Portkey":
                AssertJson(sent.Header("x-portkey-metadata"), id[..Math.Min(id.Length, 128)]);
                break;
            case "Cloudflare":
                AssertJson(sent.Header("cf-aig-metadata"), cut512);
                break;
            default:
                Assert.Equal($"dify_app_id:{Uri.EscapeDataString(cut512)},dify_source:dify", sent.Header("x-litellm-tags"));
                break;
        }

        if (idKind == "ordinary")
        {
            string? raw = sent.Header(preset switch { "Helicone" => "Helicone-Property-Dify-App-Id", "Portkey" => "x-portkey-metadata", "Cloudflare" => "cf-aig-metadata", _ => "x-litellm-tags" });
            Assert.Equal(
                preset switch
                {
                    "Helicone" => "support-bot",
                    "LiteLLM" => "dify_app_id:support-bot,dify_source:dify",
                    _ => """{"dify_app_id":"support-bot","dify_source":"dify"}""",
                },
                raw);
        }
    }

    [Theory]
    [InlineData(WireApi.ChatCompletions, false)]
    [InlineData(WireApi.ChatCompletions, true)]
    [InlineData(WireApi.Responses, false)]
    public async Task StoreFalse_InASession_CarriesTheHeadersAndNoMetadata(WireApi api, bool streaming)
    {
        using (DifySession.Begin("private-app"))
        {
            await OpenAIPipeline.SendAsync(
                Tagged(ProviderClient(_server, api), "Helicone", "Portkey", "Cloudflare", "LiteLLM"),
                streaming,
                new ChatOptions { AdditionalProperties = new() { ["store"] = false } });
        }

        RecordedRequest sent = Assert.Single(_server.Requests);
        Assert.Equal(200, sent.StatusCode);
        Assert.False(sent.Store);
        Assert.True(sent.Metadata is null || !sent.Metadata.ContainsKey("dify_app_id"));
        Assert.Equal("private-app", sent.Header("Helicone-Property-Dify-App-Id"));
        AssertJson(sent.Header("x-portkey-metadata"), "private-app");
        AssertJson(sent.Header("cf-aig-metadata"), "private-app");
        Assert.Equal("dify_app_id:private-app,dify_source:dify", sent.Header("x-litellm-tags"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task OutsideAnySession_NoHeaders(bool streaming)
    {
        await OpenAIPipeline.SendAsync(Tagged(ProviderClient(_server, WireApi.ChatCompletions), "Helicone", "Portkey", "Cloudflare", "LiteLLM"), streaming);

        RecordedRequest sent = Assert.Single(_server.Requests);
        Assert.DoesNotContain(sent.Headers.Keys, IsGatewayHeader);
    }

    [Theory]
    [InlineData(WireApi.ChatCompletions)]
    [InlineData(WireApi.Responses)]
    public async Task Streaming_DoesNotLeakIntoALaterUnrelatedCallInTheSameFlow(WireApi api)
    {
        IChatClient provider = ProviderClient(_server, api);
        IChatClient tagged = Tagged(provider, "LiteLLM");
        using (DifySession.Begin("streaming-app"))
        {
            // MEAI's OpenAI clients ask for the raw options when the stream is created, synchronously.
            IAsyncEnumerable<ChatResponseUpdate> stream = tagged.GetStreamingResponseAsync("first");
            await provider.GetResponseAsync("unrelated-before"); // same client and pipeline policy, no layer: no decision
            await foreach (ChatResponseUpdate update in stream)
            {
                _ = update;
            }

            await provider.GetResponseAsync("unrelated-after");
        }

        Assert.Equal(3, _server.Requests.Count);
        Assert.Equal("dify_app_id:streaming-app,dify_source:dify", _server.Requests.Single(r => r.LastUserText == "first").Header("x-litellm-tags"));
        Assert.All(_server.Requests.Where(r => r.LastUserText != "first"), r => Assert.DoesNotContain(r.Headers.Keys, IsGatewayHeader));
    }

    [Fact]
    public async Task CustomHeader_ReachesTheWire()
    {
        using (DifySession.Begin("a b"))
        {
            await OpenAIPipeline.SendAsync(Tagged(ProviderClient(_server, WireApi.ChatCompletions), "X-Team-App: text"), streaming: false);
        }

        Assert.Equal("a%20b", Assert.Single(_server.Requests).Header("X-Team-App"));
    }

    private static bool IsGatewayHeader(string name) =>
        name.StartsWith("Helicone-", StringComparison.OrdinalIgnoreCase) || name.Equals("x-portkey-metadata", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("cf-aig-metadata", StringComparison.OrdinalIgnoreCase) || name.Equals("x-litellm-tags", StringComparison.OrdinalIgnoreCase);

    private static void AssertJson(string? header, string appId)
    {
        Assert.NotNull(header);
        Assert.All(header, c => Assert.InRange(c, '\u0020', '\u007E'));
        using JsonDocument json = JsonDocument.Parse(header);
        Assert.Equal(appId, json.RootElement.GetProperty("dify_app_id").GetString());
        Assert.Equal("dify", json.RootElement.GetProperty("dify_source").GetString());
    }
    // ---- found by the review: each failed before its fix ----

    [Theory]
    [InlineData("no gateway headers")]
    [InlineData("disabled")]
    public async Task ARequestDecidedByAnotherLayer_NeverCarriesTheOuterRequestsHeaders(string inner)
    {
        IChatClient provider = ProviderClient(_server, WireApi.ChatCompletions);
        // A layer switched off live (options from IOptionsMonitor) is still in the pipeline; fixed Enabled = false adds none.
        IChatClient innerPipeline = new DifyMetadataChatClient(provider, new DifyMetadataOptions { Enabled = inner != "disabled" });
        var tool = AIFunctionFactory.Create(
            async () =>
            {
                using (DifySession.Begin("other-app"))
                {
                    return (await innerPipeline.GetResponseAsync("sub question")).Text;
                }
            },
            "get_weather");
        IChatClient outer = new ChatClientBuilder(provider).UseDifyMetadata(o => o.GatewayHeaders.Add("Helicone")).UseFunctionInvocation().Build();
        var server = _server;
        server.Clear();

        using (DifySession.Begin("outer-app"))
        {
            await outer.GetResponseAsync("weather?", new ChatOptions { Tools = [tool] });
        }

        RecordedRequest sub = Assert.Single(server.Requests, r => r.LastUserText == "sub question");
        Assert.Null(sub.Header("Helicone-Property-Dify-App-Id"));
        Assert.All(server.Requests.Where(r => r.LastUserText != "sub question"), r => Assert.Equal("outer-app", r.Header("Helicone-Property-Dify-App-Id")));
    }

    [Fact]
    public async Task AStreamEnumeratedAfterItsSessionEnded_CarriesNoHeaders_NoMetadata()
    {
        IChatClient client = Tagged(ProviderClient(_server, WireApi.ChatCompletions), "Helicone", "Portkey");
        IAsyncEnumerable<ChatResponseUpdate> stream;
        using (DifySession.Begin("ended-app"))
        {
            stream = client.GetStreamingResponseAsync("hello");
        }

        await stream.ToChatResponseAsync();

        RecordedRequest sent = Assert.Single(_server.Requests);
        Assert.Null(sent.Header("Helicone-Property-Dify-App-Id"));
        Assert.Null(sent.Header("x-portkey-metadata"));
        Assert.Null(sent.Metadata);
    }

    [Fact]
    public async Task WorkAToolLeavesRunning_CarriesNoHeadersOnceTheRequestEnded()
    {
        var handler = new RecordingHandler();
        using var http = new HttpClient(new MeaiMetadata.Gateways.DifyGatewayHeadersHandler { InnerHandler = handler });
        Task? background = null;
        var release = new TaskCompletionSource();
        var tool = AIFunctionFactory.Create(
            () =>
            {
                background = Task.Run(async () =>
                {
                    await release.Task;
                    (await http.GetAsync(new Uri("http://127.0.0.1/later"))).Dispose();
                });
                return "sunny";
            },
            "get_weather");
        IChatClient client = new ChatClientBuilder(ProviderClient(_server, WireApi.ChatCompletions))
            .UseDifyMetadata(o => o.GatewayHeaders.Add("Helicone"))
            .UseFunctionInvocation()
            .Build();

        using (DifySession.Begin("app-tool"))
        {
            await client.GetResponseAsync("weather?", new ChatOptions { Tools = [tool] });
        }

        release.SetResult();
        await background!;
        Assert.False(handler.Seen.Single().Contains("Helicone-Property-Dify-App-Id", StringComparer.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task ACallersOwnPolicyAddedLater_StillHasItsHeaderReplaced()
    {
        var options = new OpenAIClientOptions { Endpoint = _server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) }.AddDifyMetadataHeaders();
        options.AddPolicy(new SetHeaderPolicy("x-portkey-metadata", "{\"caller\":\"1\"}"), PipelinePosition.PerCall);
        IChatClient client = Tagged(new OpenAIClient(new ApiKeyCredential("k"), options).GetChatClient(OpenAIPipeline.Model).AsIChatClient(), "Portkey");

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hello");
        }

        Assert.Contains("\"dify_app_id\":\"app\"", Assert.Single(_server.Requests).Header("x-portkey-metadata"), StringComparison.Ordinal);
    }

    private sealed class SetHeaderPolicy(string name, string value) : PipelinePolicy
    {
        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            message.Request.Headers.Set(name, value);
            ProcessNext(message, pipeline, currentIndex);
        }

        public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            message.Request.Headers.Set(name, value);
            return ProcessNextAsync(message, pipeline, currentIndex);
        }
    }

    private sealed class RecordingHandler : HttpMessageHandler
    {
        public List<string[]> Seen { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (Seen)
            {
                Seen.Add([.. request.Headers.Select(h => h.Key)]);
            }

            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));
        }
    }
}
