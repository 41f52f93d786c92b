using MeaiMetadata.Http;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds <see cref="DifyBaggageHandler"/> to <c>IHttpClientFactory</c> clients.</summary>
public static class DifyBaggageHttpClientBuilderExtensions
{
    /// <summary>Sends the app id of the current propagating <see cref="MeaiMetadata.DifySession"/> as the W3C Baggage item
    /// <c>dify.app_id</c> on every request of this client.</summary>
    public static IHttpClientBuilder AddDifyBaggage(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddHttpMessageHandler(static () => new DifyBaggageHandler());
    }
}
