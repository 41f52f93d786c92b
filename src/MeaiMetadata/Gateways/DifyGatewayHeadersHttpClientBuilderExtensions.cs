using MeaiMetadata.Gateways;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds <see cref="DifyGatewayHeadersHandler"/> to <c>IHttpClientFactory</c> clients.</summary>
public static class DifyGatewayHeadersHttpClientBuilderExtensions
{
    /// <summary>Writes the LLM-gateway headers chosen in <see cref="MeaiMetadata.DifyMetadataOptions.GatewayHeaders"/> on every
    /// request of this client that a <c>UseDifyMetadata()</c> layer decided.</summary>
    /// <param name="builder">The client builder, e.g. from <c>services.AddHttpClient("llm")</c>.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddDifyGatewayHeaders(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddHttpMessageHandler(static () => new DifyGatewayHeadersHandler());
    }
}
