using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.AspNetCore.Tests.TestDoubles;

/// <summary>A chat client that answers "ok" and records the <c>AdditionalProperties["metadata"]</c> each request reached it
/// with: what a <c>UseDifyMetadata()</c> layer in front of it decided.</summary>
public sealed class RecordingChatClient : IChatClient
{
    private readonly List<IReadOnlyDictionary<string, string>?> _metadata = [];

    public IReadOnlyList<IReadOnlyDictionary<string, string>?> Metadata
    {
        get
        {
            lock (_metadata)
            {
                return [.. _metadata];
            }
        }
    }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Record(options);
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Record(options);
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "ok");
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }

    private void Record(ChatOptions? options)
    {
        object? metadata = null;
        _ = options?.AdditionalProperties?.TryGetValue("metadata", out metadata);
        lock (_metadata)
        {
            _metadata.Add(metadata as IReadOnlyDictionary<string, string>);
        }
    }
}
