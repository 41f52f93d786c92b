using System.Globalization;
using MeaiMetadata;

namespace Microsoft.Extensions.AI;

/// <summary>Names the app of one call, for routers and batch jobs that serve several apps in one flow.</summary>
/// <remarks>The app id given here wins over the session, the resolver and baggage, for the calls made with these options.
/// It is stored in <see cref="ChatOptions.AdditionalProperties"/> under <see cref="DifyMetadataKeys.AppIdProperty"/>; an
/// enabled layer reads it and never passes that key on.</remarks>
public static class DifyChatOptionsExtensions
{
    /// <summary>Attributes the calls made with <paramref name="options"/> to <paramref name="appId"/>.</summary>
    public static ChatOptions WithDifyAppId(this ChatOptions options, string appId)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(appId);
        (options.AdditionalProperties ??= [])[DifyMetadataKeys.AppIdProperty] = appId;
        return options;
    }

    /// <summary>Attributes the calls made with <paramref name="options"/> to a numeric app id (invariant culture).</summary>
    public static ChatOptions WithDifyAppId(this ChatOptions options, long appId) =>
        options.WithDifyAppId(appId.ToString(CultureInfo.InvariantCulture));

    /// <summary>Attributes the calls made with <paramref name="options"/> to a <see cref="Guid"/> app id (format <c>D</c>).</summary>
    public static ChatOptions WithDifyAppId(this ChatOptions options, Guid appId) =>
        options.WithDifyAppId(appId.ToString("D", CultureInfo.InvariantCulture));
}
