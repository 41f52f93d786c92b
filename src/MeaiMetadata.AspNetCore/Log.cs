using Microsoft.Extensions.Logging;

namespace MeaiMetadata.AspNetCore;

/// <summary>The log messages of this package.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "Request handled without a Dify session: {Reason}.")]
    public static partial void NoAppId(ILogger logger, string reason);

    [LoggerMessage(2, LogLevel.Debug, "Request handled without a Dify session: the app id lookup threw.")]
    public static partial void AppIdLookupFailed(ILogger logger, Exception exception);

    [LoggerMessage(3, LogLevel.Debug, "Removed the W3C Baggage item dify.app_id of an untrusted caller from {Where}.")]
    public static partial void BaggageRemoved(ILogger logger, string where);

    [LoggerMessage(5, LogLevel.Warning, "UseDifySession runs before authentication (UseAuthentication has not run for this request), so the user is anonymous when the app id is looked up and every request goes out untagged. Call app.UseDifySession(...) after app.UseAuthentication(), or use WithDifySession on the endpoints.")]
    public static partial void SessionBeforeAuthentication(ILogger logger);

    [LoggerMessage(4, LogLevel.Warning, "The baggage trust predicate threw; the caller is treated as untrusted.")]
    public static partial void TrustPredicateFailed(ILogger logger, Exception exception);
}
