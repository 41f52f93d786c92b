using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Budgets.Tests.TestDoubles;

/// <summary>A provider stand-in that counts the requests it receives and answers with set usage.</summary>
public sealed class CountingChatClient : IChatClient
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Usage of each answer; null answers without usage.</summary>
    public UsageDetails? Usage { get; set; } = new() { InputTokenCount = 5, OutputTokenCount = 3, TotalTokenCount = 8 };

    public List<ChatOptions?> Received { get; } = [];

    /// <summary>When set, each call is answered by this instead (tool loops).</summary>
    public Func<IEnumerable<ChatMessage>, ChatOptions?, ChatResponse>? Answer { get; set; }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        _ = Interlocked.Increment(ref _calls);
        lock (Received)
        {
            Received.Add(options);
        }

        return Task.FromResult(Answer?.Invoke(messages, options) ?? new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")) { Usage = Usage, ModelId = options?.ModelId });
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        _ = Interlocked.Increment(ref _calls);
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "o") { ModelId = options?.ModelId };
        yield return new ChatResponseUpdate(ChatRole.Assistant, "k");
        if (FailMidStream)
        {
            throw new InvalidOperationException("stream broke");
        }

        if (Usage is not null)
        {
            yield return new ChatResponseUpdate { Contents = [new UsageContent(Usage)] };
        }
    }

    public bool FailMidStream { get; set; }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}
