using Microsoft.Extensions.AI;
using OpenAI.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace MeaiMetadata.Tests.TestDoubles;

/// <summary>A Chat Completions stand-in whose first answer calls the request's first tool: records the app id each model
/// request carried on its raw options, and whether it was the request that asked for the tool.</summary>
public sealed class ToolCallingClient(List<(string? App, bool Tool)> wire) : IChatClient
{
    private static readonly OpenAIStandInClient s_provider = new(StandInApi.ChatCompletions);

    /// <summary>Builds <c>.UseDifyMetadata().UseFunctionInvocation()</c> over a stand-in that records into
    /// <paramref name="wire"/>, and the tool <c>lookup</c>, which runs <paramref name="tool"/> with that pipeline (to send a
    /// sub-request through it).</summary>
    public static (IChatClient Client, AIFunction Tool) Pipeline(List<(string? App, bool Tool)> wire, Func<IChatClient, Task<string>> tool)
    {
        IChatClient client = null!;
        AIFunction function = AIFunctionFactory.Create(() => tool(client), "lookup");
        client = new ChatClientBuilder(new ToolCallingClient(wire)).UseDifyMetadata().UseFunctionInvocation().Build();
        return (client, function);
    }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var raw = options?.RawRepresentationFactory?.Invoke(this) as ChatCompletionOptions;
        bool answered = messages.Any(m => m.Contents.OfType<FunctionResultContent>().Any());
        bool sub = messages.Any(m => m.Text == "sub question");
        lock (wire)
        {
            wire.Add((raw is not null && raw.Metadata.TryGetValue("dify_app_id", out string? app) ? app : null, !answered && !sub));
        }

        ChatMessage reply = answered || sub
            ? new(ChatRole.Assistant, "ok")
            : new(ChatRole.Assistant, [new FunctionCallContent("call_" + wire.Count, options!.Tools![0].Name)]);
        return Task.FromResult(new ChatResponse(reply));
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ChatResponse response = await GetResponseAsync(messages, options, cancellationToken);
        foreach (ChatResponseUpdate update in response.ToChatResponseUpdates())
        {
            yield return update;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(ChatClient) ? s_provider.GetService(serviceType, serviceKey) : serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}
