using Microsoft.Extensions.AI;

namespace MeaiMetadata.Benchmarks.Infrastructure;

/// <summary>A cached async stream of one update that completes synchronously (one small enumerator per enumeration).</summary>
public sealed class SingleUpdateSequence(ChatResponseUpdate update) : IAsyncEnumerable<ChatResponseUpdate>
{
    public IAsyncEnumerator<ChatResponseUpdate> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        new Enumerator(update);

    private sealed class Enumerator(ChatResponseUpdate update) : IAsyncEnumerator<ChatResponseUpdate>
    {
        private bool _moved;

        public ChatResponseUpdate Current => update;

        public ValueTask<bool> MoveNextAsync()
        {
            if (_moved)
            {
                return new ValueTask<bool>(false);
            }

            _moved = true;
            return new ValueTask<bool>(true);
        }

        public ValueTask DisposeAsync() => default;
    }
}
