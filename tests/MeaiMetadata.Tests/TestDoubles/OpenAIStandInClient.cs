using System.ClientModel;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;
using OpenAI.Responses;

namespace MeaiMetadata.Tests.TestDoubles;

/// <summary>Which OpenAI API a stand-in client speaks.</summary>
public enum StandInApi
{
    ChatCompletions,
    Responses,
}

/// <summary>
/// An inner client that consumes <see cref="ChatOptions"/> the way the OpenAI clients of Microsoft.Extensions.AI.OpenAI do:
/// it answers <c>GetService</c> for the SDK client type, calls <see cref="ChatOptions.RawRepresentationFactory"/> with
/// itself and keeps the result when it is its raw options type, otherwise creates a new one. No I/O.
/// </summary>
public sealed class OpenAIStandInClient(StandInApi api) : IChatClient
{
    private static readonly ChatClient s_chatClient = new("gpt-4o-mini", new ApiKeyCredential("test"));
    private static readonly ResponsesClient s_responsesClient = new(new ApiKeyCredential("test"));

    public StandInApi Api { get; } = api;

    /// <summary>Gets the options the last request was made with.</summary>
    public ChatOptions? LastOptions { get; private set; }

    /// <summary>Gets the raw options the last request would have sent.</summary>
    public object? LastRaw { get; private set; }

    /// <summary>Gets the cancellation token of the last request.</summary>
    public CancellationToken LastToken { get; private set; }

    public int Calls { get; private set; }

    public ChatCompletionOptions LastChat => Assert.IsType<ChatCompletionOptions>(LastRaw);

    public CreateResponseOptions LastResponses => Assert.IsType<CreateResponseOptions>(LastRaw);

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Consume(options, cancellationToken);
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Consume(options, cancellationToken);
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "ok");
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null :
        Api == StandInApi.ChatCompletions && serviceType == typeof(ChatClient) ? s_chatClient :
        Api == StandInApi.Responses && serviceType == typeof(ResponsesClient) ? s_responsesClient :
        serviceType.IsInstanceOfType(this) ? this :
        null;

    public void Dispose()
    {
    }

    private void Consume(ChatOptions? options, CancellationToken cancellationToken)
    {
        Calls++;
        LastOptions = options;
        LastToken = cancellationToken;
        if (options is null)
        {
            LastRaw = Api == StandInApi.ChatCompletions ? new ChatCompletionOptions() : new CreateResponseOptions();
            return;
        }

        object? raw = options.RawRepresentationFactory?.Invoke(this);
        LastRaw = Api == StandInApi.ChatCompletions
            ? raw as ChatCompletionOptions ?? new ChatCompletionOptions()
            : raw as CreateResponseOptions ?? new CreateResponseOptions();
        RawReturnedByFactory = raw;
    }

    /// <summary>Gets exactly what the factory returned for the last request (before any fallback).</summary>
    public object? RawReturnedByFactory { get; private set; }
}
