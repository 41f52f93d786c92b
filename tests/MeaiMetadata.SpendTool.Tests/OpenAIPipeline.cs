using System.ClientModel;
using System.ClientModel.Primitives;
using MeaiMetadata.FakeOpenAI;
using Microsoft.Extensions.AI;
using OpenAI;

namespace MeaiMetadata.SpendTool.Tests;

/// <summary>Which OpenAI API a client speaks.</summary>
public enum WireApi
{
    ChatCompletions,
    Responses,
}

/// <summary>The official OpenAI SDK's <see cref="IChatClient"/>s against the fake server (as the integration tests build them).</summary>
public static class OpenAIPipeline
{
    public const string Model = "gpt-4o-mini";

    public static IChatClient ProviderClient(FakeOpenAIServer server, WireApi api)
    {
        var openAI = new OpenAIClient(
            new ApiKeyCredential("test-key"),
            new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });
        return api == WireApi.ChatCompletions
            ? openAI.GetChatClient(Model).AsIChatClient()
            : openAI.GetResponsesClient().AsIChatClient(Model);
    }

    public static async Task<ChatResponse> SendAsync(IChatClient client, bool streaming, ChatOptions? options = null, string text = "hello")
    {
        List<ChatMessage> messages = [new(ChatRole.User, text)];
        return streaming
            ? await client.GetStreamingResponseAsync(messages, options).ToChatResponseAsync()
            : await client.GetResponseAsync(messages, options);
    }
}
