using MeaiMetadata.Tagging;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata;

/// <summary>The log messages of this library.</summary>
internal static partial class Log
{
    /// <summary>Logs what a merge changed among the caller's metadata pairs.</summary>
    public static void MergeReported(ILogger logger, in MergeReport report, string api)
    {
        if (report.Dropped is { } dropped && logger.IsEnabled(LogLevel.Warning))
        {
            CallerKeysDropped(logger, api, KeyList(dropped));
        }

        if (report.Adjusted is { } adjusted && logger.IsEnabled(LogLevel.Warning))
        {
            CallerValuesAdjusted(logger, api, KeyList(adjusted));
        }

        if (report.SourceOmitted)
        {
            SourceOmitted(logger, api);
        }
    }

    /// <summary>The keys, each cut to 80 characters and at most 20 of them, so that hostile keys cannot flood the log.</summary>
    private static string KeyList(List<string> keys)
    {
        const int MaxKeys = 20, MaxKeyLength = 80;
        IEnumerable<string> shown = keys.Take(MaxKeys).Select(k => k.Length <= MaxKeyLength ? k : string.Concat(k.AsSpan(0, MaxKeyLength), "…"));
        string list = string.Join(", ", shown);
        return keys.Count <= MaxKeys ? list : $"{list}, and {keys.Count - MaxKeys} more";
    }

    [LoggerMessage(1, LogLevel.Debug, "Request tagged with app id '{AppId}' (from the {Origin}); store: {Store}.")]
    public static partial void Tagged(ILogger logger, string appId, string origin, string store);

    [LoggerMessage(2, LogLevel.Debug, "Request not tagged: {Reason}.")]
    public static partial void NotTagged(ILogger logger, string reason);

    [LoggerMessage(3, LogLevel.Warning, "The app id resolver threw; the request goes out untagged.")]
    public static partial void ResolverFailed(ILogger logger, Exception exception);

    [LoggerMessage(4, LogLevel.Warning, "Removed caller metadata keys [{Keys}] from the {Api} request: the provider rejects those keys, or they exceed its pair limit and dify_app_id needs a slot.")]
    public static partial void CallerKeysDropped(ILogger logger, string api, string keys);

    [LoggerMessage(5, LogLevel.Warning, "Adjusted caller metadata values of keys [{Keys}] on the {Api} request to the provider's rules (length, characters).")]
    public static partial void CallerValuesAdjusted(ILogger logger, string api, string keys);

    [LoggerMessage(6, LogLevel.Debug, "dify_source left out of the {Api} request: the caller's metadata fills every slot.")]
    public static partial void SourceOmitted(ILogger logger, string api);

    [LoggerMessage(7, LogLevel.Warning, "The caller's AdditionalProperties[\"metadata\"] is a {Type}, not a string dictionary; it is replaced by the tags.")]
    public static partial void UnreadableCallerMetadata(ILogger logger, string type);

    [LoggerMessage(8, LogLevel.Debug, "No provider mapping for {Type}: the raw request options carry no tags.")]
    public static partial void NoMapping(ILogger logger, string type);

    [LoggerMessage(9, LogLevel.Debug, "The caller's raw {Api} options set their own store flag: metadata {What} after all.")]
    public static partial void RawOptionsDecided(ILogger logger, string api, string what);

    [LoggerMessage(10, LogLevel.Warning, "Tagging the raw request options failed; the request goes out as the caller built it.")]
    public static partial void TaggingFailed(ILogger logger, Exception exception);

    [LoggerMessage(11, LogLevel.Error, "Changed DifyMetadata options are invalid and were not applied; the previous options stay in force. {Reason}")]
    public static partial void OptionsChangeRejected(ILogger logger, string reason);

    [LoggerMessage(12, LogLevel.Debug, "Removed dify_app_id/dify_source that the caller put on a request the layer does not tag.")]
    public static partial void ReservedKeysRemoved(ILogger logger);

    [LoggerMessage(13, LogLevel.Debug, "Request of app id '{AppId}' (from the {Origin}) not tagged: {Reason}.")]
    public static partial void AppNotTagged(ILogger logger, string appId, string origin, string reason);

    [LoggerMessage(14, LogLevel.Debug, "Request tagged already for this app (by an outer layer, or on an earlier pass of the same options): passed on as it is.")]
    public static partial void AlreadyTagged(ILogger logger);

    [LoggerMessage(15, LogLevel.Warning, "Deciding how to tag the request failed (the caller's options or the provider could not be read); it goes out as the caller built it, untagged.")]
    public static partial void CallerOptionsUnreadable(ILogger logger, Exception exception);

    [LoggerMessage(16, LogLevel.Debug, "The caller's raw options ({Type}) are not what the {Api} client sends (it would ignore them); new {Api} options carry the tags instead.")]
    public static partial void RawOptionsReplaced(ILogger logger, string type, string api);

    [LoggerMessage(18, LogLevel.Warning, "The call's app id (AdditionalProperties[\"dify.app_id\"]) is a {Type}, not a string, an integer or a Guid; the request goes out untagged.")]
    public static partial void CallAppIdUnreadable(ILogger logger, string type);

    [LoggerMessage(19, LogLevel.Warning, "AdditionalProperties[\"dify.app_id\"] holds JSON (options deserialized from a request body?): ignored, the app id comes from the session, the resolver or baggage. Name a call's app in code with WithDifyAppId.")]
    public static partial void CallAppIdFromJsonIgnored(ILogger logger);

    [LoggerMessage(300, LogLevel.Debug, "The request already carried the gateway header '{Header}'; it is replaced by the layer's (the decision is the attribution).")]
    public static partial void GatewayHeaderReplaced(ILogger logger, string header);

    [LoggerMessage(200, LogLevel.Warning, "No price for model '{Model}': its responses record no dify.app.cost (counted in dify.app.cost.unpriced). Add it to DifyMetadata:Prices, or map the name to a priced model in DifyMetadata:ModelAliases.")]
    public static partial void ModelUnpriced(ILogger logger, string model);

    [LoggerMessage(17, LogLevel.Warning, "Reporting a request to the meter failed; the call's result is unchanged.")]
    public static partial void ReportingFailed(ILogger logger, Exception exception);
}
