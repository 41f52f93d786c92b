using Microsoft.Extensions.AI;

namespace MeaiMetadata.Benchmarks.Infrastructure;

/// <summary>A delegating layer that does nothing: the cost of one pipeline layer, the floor for any middleware.</summary>
public sealed class PassThroughChatClient(IChatClient innerClient) : DelegatingChatClient(innerClient);
