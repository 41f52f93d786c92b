using System.ClientModel.Primitives;

namespace MeaiMetadata.Gateways;

/// <summary>A System.ClientModel pipeline policy that writes the app id of the request being sent as LLM-gateway headers
/// (Helicone, Portkey, Cloudflare AI Gateway, LiteLLM or custom), as chosen in <see cref="DifyMetadataOptions.GatewayHeaders"/>.</summary>
/// <remarks>
/// <para>
/// Add it with <c>clientOptions.AddDifyMetadataHeaders()</c> on the <c>OpenAIClientOptions</c> of the client at the end of a
/// pipeline with <c>UseDifyMetadata()</c>. It decides nothing: it reads the <see cref="DifyRequestDecision"/> that
/// <see cref="DifyMetadataChatClient"/> made for the request it is sending. Headers go out whenever that decision has an
/// app, whatever <c>store</c> says (also for <c>store: false</c>, which carries no metadata); a request that no layer
/// decided (outside any session, or sent by other code with the same client) is not changed.
/// </para>
/// <para>A header of the same name that the request already carries (the caller's own) is replaced: the layer's decision is
/// the attribution. Values are printable ASCII: percent-encoded, or JSON with every other character escaped.</para>
/// <para>This type is thread-safe.</para>
/// </remarks>
public sealed class DifyGatewayHeadersPolicy : PipelinePolicy
{
    /// <inheritdoc />
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        AddHeaders(message);
        ProcessNext(message, pipeline, currentIndex);
    }

    /// <inheritdoc />
    public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        AddHeaders(message);
        return ProcessNextAsync(message, pipeline, currentIndex);
    }

    private static void AddHeaders(PipelineMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        GatewayScope.Current?.ApplyTo(
            message.Request.Headers,
            static (headers, name) => headers.Remove(name),
            static (headers, name, value) => headers.Set(name, value));
    }
}
