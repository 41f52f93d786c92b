using MeaiMetadata.Tagging;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata;

/// <summary>The log messages of this library.</summary>
internal static partial class Log
{
    /// <summary>Logs what a merge changed among the caller's metadata pairs.</summary>
    public static void MergeReported(ILogger logger, in MergeReport report, string api)
    {
        if (report.Dropped is { } dropped)
        {
            CallerKeysDropped(logger, api, string.Join(", ", dropped));
        }

        if (report.Adjusted is { } adjusted)
        {
            CallerValuesAdjusted(logger, api, string.Join(", ", adjusted));
        }

        if (report.SourceOmitted)
        {
            SourceOmitted(logger, api);
        }
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

    [LoggerMessage(11, LogLevel.Error, "Changed DifyMetadata options are invalid and were not applied; the previous options stay in force. {Reason}")]
    public static partial void OptionsChangeRejected(ILogger logger, string reason);
}
