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

    [LoggerMessage(1, LogLevel.Debug, "Tagging the request with app id '{AppId}'.")]
    public static partial void Tagging(ILogger logger, string appId);

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

    [LoggerMessage(8, LogLevel.Debug, "No OpenAI mapping for {Type}; the raw options are left untouched.")]
    public static partial void NoMapping(ILogger logger, string type);

    [LoggerMessage(9, LogLevel.Debug, "Metadata not attached to the {Api} request: store is not enabled for it.")]
    public static partial void StoreNotEnabled(ILogger logger, string api);

    [LoggerMessage(10, LogLevel.Warning, "Tagging the raw request options failed; the request goes out as the caller built it.")]
    public static partial void TaggingFailed(ILogger logger, Exception exception);

    [LoggerMessage(12, LogLevel.Debug, "Removed dify_app_id/dify_source that the caller put on a request the layer does not tag.")]
    public static partial void ReservedKeysRemoved(ILogger logger);

    [LoggerMessage(11, LogLevel.Error, "Changed DifyMetadata options are invalid and were not applied; the previous options stay in force. {Reason}")]
    public static partial void OptionsChangeRejected(ILogger logger, string reason);
}
