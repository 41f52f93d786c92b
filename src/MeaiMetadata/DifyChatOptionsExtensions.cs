using System.Globalization;
using Microsoft.Extensions.AI;

namespace MeaiMetadata;

/// <summary>Names the app of one call: for routers and batch jobs that serve several apps in one flow.</summary>
/// <remarks>
/// The app id given here wins over <see cref="DifySession.Current"/>, <see cref="DifyMetadataOptions.AppIdResolver"/> and
/// W3C Baggage, for this call only (and for the model requests of a tool loop inside the layer, which pass the same
/// options on). It is written to <see cref="ChatOptions.AdditionalProperties"/> under
/// <see cref="DifyMetadataKeys.AppIdProperty"/>; the layer takes it from there and never passes that key on.
/// </remarks>
public static class DifyChatOptionsExtensions
{
    /// <summary>Attributes the calls made with <paramref name="options"/> to <paramref name="appId"/>.</summary>
    /// <param name="options">The options of the call; changed in place (they are the caller's own).</param>
    /// <param name="appId">The app id. Treated like a session's: sent as it is (cut to 512 characters if longer); an empty
    /// id sends the call untagged.</param>
    /// <returns><paramref name="options"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> or <paramref name="appId"/> is <see langword="null"/>.</exception>
    public static ChatOptions WithDifyAppId(this ChatOptions options, string appId)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(appId);
        (options.AdditionalProperties ??= [])[DifyMetadataKeys.AppIdProperty] = appId;
        return options;
    }

    /// <summary>Attributes the calls made with <paramref name="options"/> to a numeric app id, formatted with the invariant culture.</summary>
    /// <param name="options">The options of the call; changed in place.</param>
    /// <param name="appId">The app id.</param>
    /// <returns><paramref name="options"/>, for chaining.</returns>
    public static ChatOptions WithDifyAppId(this ChatOptions options, long appId) =>
        options.WithDifyAppId(appId.ToString(CultureInfo.InvariantCulture));

    /// <summary>Attributes the calls made with <paramref name="options"/> to an app id that is a <see cref="Guid"/>, formatted as
    /// <c>xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx</c>.</summary>
    /// <param name="options">The options of the call; changed in place.</param>
    /// <param name="appId">The app id.</param>
    /// <returns><paramref name="options"/>, for chaining.</returns>
    public static ChatOptions WithDifyAppId(this ChatOptions options, Guid appId) =>
        options.WithDifyAppId(appId.ToString("D", CultureInfo.InvariantCulture));
}
