using System.ClientModel;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace MeaiMetadata.Benchmarks.Infrastructure;

/// <summary>
/// An inner <see cref="IChatClient"/> that consumes <see cref="ChatOptions"/> exactly as MEAI's <c>OpenAIChatClient</c> does
/// (Microsoft.Extensions.AI.OpenAI 10.11, <c>ToOpenAIOptions</c>) and answers from a cache, with no I/O.
/// </summary>
/// <remarks>
/// <c>null</c> options: a new <see cref="ChatCompletionOptions"/> and no factory call. Otherwise the
/// <see cref="ChatOptions.RawRepresentationFactory"/> is invoked with this client; its result is kept when it is a
/// <see cref="ChatCompletionOptions"/>, else a new one is created; then unset properties are filled from the
/// <see cref="ChatOptions"/>. <see cref="GetService"/> answers <see cref="ChatClient"/> with a real SDK instance, as the
/// real client does, so the middleware recognises it as Chat Completions.
/// </remarks>
public sealed class FakeOpenAIChatClient : IChatClient
{
    private readonly ChatClient _chatClient = new("gpt-4o-mini", new ApiKeyCredential("k"));
    private readonly Task<ChatResponse> _response = Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
    private readonly SingleUpdateSequence _stream = new(new ChatResponseUpdate(ChatRole.Assistant, "ok"));

    /// <summary>Gets the raw options the last request was converted to (kept so that the work cannot be optimized away,
    /// and so that setup and cleanup can check what a row really sent).</summary>
    public ChatCompletionOptions? LastRawOptions { get; private set; }

    public Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        LastRawOptions = ToOpenAIOptions(options);
        return _response;
    }

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        // OpenAIChatClient converts the options eagerly, before the first update is requested.
        LastRawOptions = ToOpenAIOptions(options);
        return _stream;
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null :
            serviceType == typeof(ChatClient) ? _chatClient :
            serviceType.IsInstanceOfType(this) ? this :
            null;
    }

    public void Dispose()
    {
    }

    private ChatCompletionOptions ToOpenAIOptions(ChatOptions? options)
    {
        if (options is null)
        {
            return new ChatCompletionOptions();
        }

        if (options.RawRepresentationFactory?.Invoke(this) is not ChatCompletionOptions result)
        {
            result = new ChatCompletionOptions();
        }

        result.FrequencyPenalty ??= options.FrequencyPenalty;
        result.MaxOutputTokenCount ??= options.MaxOutputTokens;
        result.TopP ??= options.TopP;
        result.PresencePenalty ??= options.PresencePenalty;
        result.Temperature ??= options.Temperature;
        return result;
    }
}
