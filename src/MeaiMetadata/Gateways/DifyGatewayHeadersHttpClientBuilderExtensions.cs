using MeaiMetadata.Gateways;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds <see cref="DifyGatewayHeadersHandler"/> to <c>IHttpClientFactory</c> clients.</summary>
public static class DifyGatewayHeadersHttpClientBuilderExtensions
{
    /// <summary>Writes the LLM-gateway headers chosen in <see cref="MeaiMetadata.DifyMetadataOptions.GatewayHeaders"/> on every
    /// request of this client that a <c>UseDifyMetadata()</c> layer decided.</summary>
    public static IHttpClientBuilder AddDifyGatewayHeaders(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddHttpMessageHandler(static () => new DifyGatewayHeadersHandler());
    }
}
