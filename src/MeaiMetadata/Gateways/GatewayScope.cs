using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Gateways;

/// <summary>The gateway headers of the request being sent: set by <see cref="DifyMetadataChatClient"/> around its inner call,
/// read by <see cref="DifyGatewayHeadersPolicy"/> and <see cref="DifyGatewayHeadersHandler"/> when they send it.</summary>
/// <remarks>
/// <para>
/// The value is an <see cref="AsyncLocal{T}"/> set only inside an <c>async</c> method of this class (never in a synchronous
/// method that returns): a change made in an async method flows into everything that method calls and awaits (the
/// provider's HTTP send), and never back to its caller, because the method builder restores the caller's execution context
/// when the method returns or first yields. So the headers are visible exactly while the layer's own inner call runs.
/// </para>
/// <para>
/// The raw-options factory could not carry them: MEAI's OpenAI clients call it in the synchronous
/// <c>GetStreamingResponseAsync</c> (which returns an <see cref="IAsyncEnumerable{T}"/>), so a value set there would stay in
/// the caller's flow and tag every later HTTP call of it. For a stream, <see cref="Stream"/> sets the value around opening
/// the inner stream and around each <c>MoveNextAsync</c> (when the provider sends and reads), and puts the previous value
/// back each time.
/// </para>
/// </remarks>
internal static class GatewayScope
{
    private static readonly AsyncLocal<GatewayRequestHeaders?> s_current = new();

    /// <summary>Gets the headers of the request being sent in this flow, or <see langword="null"/> outside any decided request.</summary>
    public static GatewayRequestHeaders? Current => s_current.Value is { IsLive: true } headers ? headers : null;

    /// <summary>Gets a value indicating whether this flow holds headers of a request (live or not) that a layer deciding
    /// nothing, or deciding no headers, must hide from its own inner call.</summary>
    public static bool IsSet => s_current.Value is not null;

    /// <summary>Runs <paramref name="send"/> with <paramref name="headers"/> current; the caller's flow never sees them.</summary>
    public static async Task<ChatResponse> RunAsync(GatewayRequestHeaders? headers, Func<Task<ChatResponse>> send)
    {
        s_current.Value = headers;
        try
        {
            return await send().ConfigureAwait(false);
        }
        finally
        {
            headers?.End();
        }
    }

    /// <summary>Streams what <paramref name="open"/> returns with <paramref name="headers"/> current while the inner stream is
    /// opened, advanced and disposed, and never while the consumer runs.</summary>
    public static async IAsyncEnumerable<ChatResponseUpdate> Stream(
        GatewayRequestHeaders? headers, Func<CancellationToken, IAsyncEnumerable<ChatResponseUpdate>> open,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        GatewayRequestHeaders? previous = s_current.Value;
        IAsyncEnumerator<ChatResponseUpdate> updates;
        s_current.Value = headers;
        try
        {
            updates = open(cancellationToken).GetAsyncEnumerator(cancellationToken);
        }
        finally
        {
            s_current.Value = previous;
        }

        try
        {
            while (true)
            {
                bool more;
                previous = s_current.Value;
                s_current.Value = headers;
                try
                {
                    more = await updates.MoveNextAsync().ConfigureAwait(false);
                }
                finally
                {
                    s_current.Value = previous;
                }

                if (!more)
                {
                    yield break;
                }

                yield return updates.Current;
            }
        }
        finally
        {
            previous = s_current.Value;
            s_current.Value = headers;
            try
            {
                await updates.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                s_current.Value = previous;
                headers?.End();
            }
        }
    }
}
