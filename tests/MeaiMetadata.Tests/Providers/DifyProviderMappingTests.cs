using MeaiMetadata.Providers;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tests.Providers;

/// <summary>The extension point, proven with stand-in raw types of the shape of Bedrock's and Gemini's.</summary>
public class DifyProviderMappingTests
{
    private static StandInProviderClient<FakeConverseRequest, FakeConverseStreamRequest> Bedrock() => new(new FakeBedrockRuntime());

    private static StandInProviderClient<FakeGenerateContentConfig, FakeGenerateContentConfig> Gemini() => new(new FakeGenAIClient());

    private static DifyMetadataChatClient Tagging(IChatClient inner, params DifyProviderMapping[] mappings)
    {
        var options = new DifyMetadataOptions();
        foreach (DifyProviderMapping mapping in mappings)
        {
            options.ProviderMappings.Add(mapping);
        }

        return new DifyMetadataChatClient(inner, options);
    }

    [Fact]
    public void Defaults_AreTheTwoOpenAIMappingsInOrder()
    {
        Assert.Equal([DifyProviderMapping.OpenAIChatCompletions, DifyProviderMapping.OpenAIResponses], new DifyMetadataOptions().ProviderMappings);
    }

    [Fact]
    public async Task NoCallerRawOptions_NonStreaming_CreatesTheRequestType()
    {
        var inner = Bedrock();

        using (DifySession.Begin("app-1"))
        {
            await Tagging(inner, new StandInBedrockMapping()).GetResponseAsync("hi");
        }

        var request = Assert.IsType<FakeConverseRequest>(inner.LastRaw);
        Assert.Equal(new Dictionary<string, string> { ["dify_app_id"] = "app-1", ["dify_source"] = "dify" }, request.RequestMetadata);
    }

    [Fact]
    public async Task NoCallerRawOptions_Streaming_CreatesTheStreamingType()
    {
        var inner = Bedrock();

        using (DifySession.Begin("app-1"))
        {
            await foreach (ChatResponseUpdate update in Tagging(inner, new StandInBedrockMapping()).GetStreamingResponseAsync("hi"))
            {
                Assert.Equal("ok", update.Text);
            }
        }

        var request = Assert.IsType<FakeConverseStreamRequest>(inner.LastRaw);
        Assert.Equal("app-1", request.RequestMetadata!["dify_app_id"]);
    }

    [Fact]
    public async Task CallerRawOptions_AreMergedInto()
    {
        var inner = Bedrock();
        var callerRequest = new FakeConverseRequest { RequestMetadata = new() { ["team"] = "search", ["dify_app_id"] = "spoof" } };

        using (DifySession.Begin("app-1"))
        {
            await Tagging(inner, new StandInBedrockMapping()).GetResponseAsync("hi", new ChatOptions { RawRepresentationFactory = _ => callerRequest });
        }

        Assert.Same(callerRequest, inner.LastRaw);
        Assert.Equal(
            new SortedDictionary<string, string> { ["team"] = "search", ["dify_app_id"] = "app-1", ["dify_source"] = "dify" },
            new SortedDictionary<string, string>(callerRequest.RequestMetadata!));
    }

    [Fact]
    public async Task BedrockMapping_NormalizesToBedrockRules()
    {
        var inner = Bedrock();

        using (DifySession.Begin("Équipe Rouge · 7"))
        {
            await Tagging(inner, new StandInBedrockMapping()).GetResponseAsync("hi");
        }

        Assert.Equal("_quipe Rouge _ 7", Assert.IsType<FakeConverseRequest>(inner.LastRaw).RequestMetadata!["dify_app_id"]);
    }

    [Fact]
    public async Task VertexMapping_LabelsFollowGoogleRules()
    {
        var inner = Gemini();

        using (DifySession.Begin("Support-Bot (EU)"))
        {
            await Tagging(inner, new StandInVertexMapping()).GetResponseAsync("hi");
        }

        var config = Assert.IsType<FakeGenerateContentConfig>(inner.LastRaw);
        Assert.Equal(new Dictionary<string, string> { ["dify_app_id"] = "support-bot__eu_", ["dify_source"] = "dify" }, config.Labels);
    }

    [Fact]
    public async Task Mappings_AreTriedInOrder_FirstMatchWins()
    {
        var inner = Gemini();
        var first = new CountingMapping("first");
        var second = new CountingMapping("second");

        using (DifySession.Begin("app"))
        {
            await Tagging(inner, first, second).GetResponseAsync("hi");
        }

        Assert.Equal(1, first.Applied);
        Assert.Equal(0, second.Applied);
    }

    [Fact]
    public async Task NoMappingApplies_RawOptionsUntouched()
    {
        var inner = Gemini();

        using (DifySession.Begin("app"))
        {
            await Tagging(inner, new StandInBedrockMapping()).GetResponseAsync("hi");
        }

        Assert.Null(Assert.IsType<FakeGenerateContentConfig>(inner.LastRaw).Labels);
    }

    [Fact]
    public async Task MappingThatThrows_RequestGoesOnUntagged()
    {
        var inner = Bedrock();

        using (DifySession.Begin("app"))
        {
            ChatResponse response = await Tagging(inner, new ThrowingMapping()).GetResponseAsync("hi");
            Assert.Equal("ok", response.Text);
        }

        Assert.Null(Assert.IsType<FakeConverseRequest>(inner.LastRaw).RequestMetadata);
    }

    [Fact]
    public async Task ContextCarriesTheRequestFacts()
    {
        var inner = Bedrock();
        var spy = new CountingMapping("spy");
        var options = new DifyMetadataOptions { Source = "src", StorePolicy = DifyStorePolicy.LeaveUnset };
        options.ProviderMappings.Insert(0, spy);

        using (DifySession.Begin("  Raw Id  "))
        {
            await foreach (ChatResponseUpdate _ in new DifyMetadataChatClient(inner, options).GetStreamingResponseAsync("hi", new ChatOptions { AdditionalProperties = new() { ["store"] = true } }))
            {
            }
        }

        DifyRequestDecision seen = Assert.Single(spy.Contexts);
        Assert.Equal(("  Raw Id  ", "src", true, true, true), (seen.AppId, seen.Source, seen.IsStreaming, seen.Store, seen.IsTagged));
    }

    private sealed class CountingMapping(string name) : DifyProviderMapping
    {
        public int Applied { get; private set; }

        public List<DifyRequestDecision> Contexts { get; } = [];

        public override string Name => name;

        public override bool CanApply(object rawOptions) => true;

        public override bool CanCreateFor(IChatClient providerClient, bool streaming) => true;

        public override object CreateRawOptions(IChatClient providerClient, bool streaming) =>
            streaming ? new FakeConverseStreamRequest() : new FakeGenerateContentConfig();

        public override bool Apply(object rawOptions, DifyRequestDecision decision)
        {
            Applied++;
            Contexts.Add(decision);
            return true;
        }
    }

    private sealed class ThrowingMapping : DifyProviderMapping
    {
        public override string Name => "throws";

        public override bool CanApply(object rawOptions) => true;

        public override bool CanCreateFor(IChatClient providerClient, bool streaming) => true;

        public override object CreateRawOptions(IChatClient providerClient, bool streaming) => new FakeConverseRequest();

        public override bool Apply(object rawOptions, DifyRequestDecision decision) => throw new InvalidOperationException("mapping bug");
    }
}
