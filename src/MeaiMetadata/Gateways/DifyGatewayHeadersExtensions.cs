using System.ClientModel.Primitives;
using MeaiMetadata.Gateways;

namespace MeaiMetadata;

/// <summary>Adds <see cref="DifyGatewayHeadersPolicy"/> to the options of a System.ClientModel client (<c>OpenAIClientOptions</c>).</summary>
public static class DifyGatewayHeadersExtensions
{
    /// <summary>Writes the LLM-gateway headers chosen in <see cref="DifyMetadataOptions.GatewayHeaders"/> on every request
    /// that a <c>UseDifyMetadata()</c> layer decided, sent by a client built with these options.</summary>
    /// <remarks>The policy runs last before the transport (<see cref="PipelinePosition.BeforeTransport"/>), on every try, so
    /// its headers replace a caller's own header of the same name set by any per-call or per-try policy (only a caller's own
    /// <see cref="PipelinePosition.BeforeTransport"/> policy added after this one runs later).</remarks>
    public static TOptions AddDifyMetadataHeaders<TOptions>(this TOptions options)
        where TOptions : ClientPipelineOptions
    {
        ArgumentNullException.ThrowIfNull(options);
        options.AddPolicy(new DifyGatewayHeadersPolicy(), PipelinePosition.BeforeTransport);
        return options;
    }
}
