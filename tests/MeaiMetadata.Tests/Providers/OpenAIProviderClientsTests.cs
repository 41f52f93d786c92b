using System.ClientModel;
using MeaiMetadata.Providers;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using OpenAI.Responses;

#pragma warning disable OPENAI001 // The Responses API types are marked experimental by the OpenAI SDK.

namespace MeaiMetadata.Tests.Providers;

public sealed class OpenAIProviderClientsTests
{
    [Fact]
    public void Is_TheClientsOfMicrosoftExtensionsAIOpenAI()
    {
        Assert.True(OpenAIProviderClients.Is(new ChatClient("gpt-4o-mini", new ApiKeyCredential("k")).AsIChatClient()));
        Assert.True(OpenAIProviderClients.Is(new ResponsesClient(new ApiKeyCredential("k")).AsIChatClient("gpt-4o-mini")));
    }

    [Fact]
    public void IsNot_ALayerOverOne_NorAnotherClient()
    {
        IChatClient provider = new ChatClient("gpt-4o-mini", new ApiKeyCredential("k")).AsIChatClient();

        Assert.False(OpenAIProviderClients.Is(new ChatClientBuilder(provider).Use((messages, options, next, token) => next(messages, options, token)).Build()));
        Assert.False(OpenAIProviderClients.Is(new OpenAIStandInClient(StandInApi.ChatCompletions))); // answers GetService alike
        Assert.False(OpenAIProviderClients.Is(new TestChatClient()));
    }
}
