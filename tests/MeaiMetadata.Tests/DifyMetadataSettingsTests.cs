using MeaiMetadata.Providers;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;
using OpenAI.Chat;
using OpenAI.Responses;

#pragma warning disable OPENAI001 // The Responses API types are marked experimental by the OpenAI SDK.

namespace MeaiMetadata.Tests;

/// <summary>The snapshot a layer applies; here its mapping lookup, which keeps the answer for the client asked last.</summary>
public sealed class DifyMetadataSettingsTests
{
    private static readonly ChatClient s_chat = new("gpt-4o-mini", new System.ClientModel.ApiKeyCredential("k"));
    private static readonly ResponsesClient s_responses = new(new System.ClientModel.ApiKeyCredential("k"));

    private static (TestChatClient Client, List<Type> Asked) Provider(object? service)
    {
        var asked = new List<Type>();
        var client = new TestChatClient
        {
            GetServiceCallback = (type, key) =>
            {
                asked.Add(type);
                return key is null && service is not null && type.IsInstanceOfType(service) ? service : null;
            },
        };
        return (client, asked);
    }

    private static DifyMetadataSettings Settings() => DifyMetadataSettings.Create(new DifyMetadataOptions(), NullLogger.Instance);

    [Fact]
    public void MappingFor_SameClient_AsksItOnce()
    {
        DifyMetadataSettings settings = Settings();
        (TestChatClient responses, List<Type> asked) = Provider(s_responses);

        Assert.Same(DifyProviderMapping.OpenAIResponses, settings.MappingFor(responses, streaming: false));
        Assert.Equal([typeof(ChatClient), typeof(ResponsesClient)], asked); // every mapping in order, until one serves
        Assert.Same(DifyProviderMapping.OpenAIResponses, settings.MappingFor(responses, streaming: false));
        Assert.Equal(2, asked.Count);
    }

    [Fact]
    public void MappingFor_AnotherClient_IsAskedAndAnsweredForItself()
    {
        DifyMetadataSettings settings = Settings();
        (TestChatClient chat, List<Type> chatAsked) = Provider(s_chat);
        (TestChatClient other, List<Type> otherAsked) = Provider(null);

        Assert.Same(DifyProviderMapping.OpenAIChatCompletions, settings.MappingFor(chat, streaming: false));
        Assert.Null(settings.MappingFor(other, streaming: false));
        Assert.Same(DifyProviderMapping.OpenAIChatCompletions, settings.MappingFor(chat, streaming: false));
        Assert.Equal(2, chatAsked.Count);
        Assert.Equal(2, otherAsked.Count);
    }

    [Fact]
    public void MappingFor_NoMapping_IsKeptToo()
    {
        DifyMetadataSettings settings = Settings();
        (TestChatClient unknown, List<Type> asked) = Provider(null);

        Assert.Null(settings.MappingFor(unknown, streaming: false));
        Assert.Null(settings.MappingFor(unknown, streaming: false));
        Assert.Equal(2, asked.Count);
    }

    [Fact]
    public void MappingFor_StreamingAndNot_AreAnsweredApart()
    {
        // A mapping may serve one and not the other (a provider that streams through another raw type).
        var streamingOnly = new StreamingOnlyMapping();
        DifyMetadataSettings settings = DifyMetadataSettings.Create(
            new DifyMetadataOptions { ProviderMappings = { streamingOnly } }, NullLogger.Instance);
        (TestChatClient client, _) = Provider(null);

        Assert.Null(settings.MappingFor(client, streaming: false));
        Assert.Same(streamingOnly, settings.MappingFor(client, streaming: true));
        Assert.Null(settings.MappingFor(client, streaming: false));
        Assert.Same(streamingOnly, settings.MappingFor(client, streaming: true));
    }

    [Fact]
    public void MappingFor_NewSettings_AskAgain()
    {
        // Options reloaded: a new snapshot, whose mappings may differ, looks again.
        (TestChatClient chat, List<Type> asked) = Provider(s_chat);

        _ = Settings().MappingFor(chat, streaming: false);
        _ = Settings().MappingFor(chat, streaming: false);

        Assert.Equal(2, asked.Count);
    }

    private sealed class StreamingOnlyMapping : DifyProviderMapping
    {
        public override string Name => "streaming-only";

        public override bool CanApply(object rawOptions) => false;

        public override bool CanCreateFor(IChatClient providerClient, bool streaming) => streaming;

        public override object CreateRawOptions(IChatClient providerClient, bool streaming) => new object();

        public override bool Apply(object rawOptions, DifyRequestDecision decision) => false;
    }
}
