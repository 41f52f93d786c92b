using MeaiMetadata.Http;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds <see cref="DifyBaggageHandler"/> to <c>IHttpClientFactory</c> clients.</summary>
public static class DifyBaggageHttpClientBuilderExtensions
{
    /// <summary>Sends the app id of the current propagating <see cref="MeaiMetadata.DifySession"/> as the W3C Baggage item
    /// <c>dify.app_id</c> on every request of this client.</summary>
    /// <param name="builder">The client builder, e.g. from <c>services.AddHttpClient("backend")</c>, or the one passed to
    /// <c>services.ConfigureHttpClientDefaults(...)</c> for every client.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddDifyBaggage(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddHttpMessageHandler(static () => new DifyBaggageHandler());
    }
}
