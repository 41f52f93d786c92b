using Microsoft.Extensions.Logging;

namespace MeaiMetadata;

/// <summary>The layer's log messages: Debug says why each request was or was not tagged; Warning and Error say what a
/// caller or an operator must fix.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "Request tagged with app id '{AppId}' (from the {Origin}); store: {Store}.")]
    public static partial void Tagged(ILogger logger, string appId, string origin, string store);

    [LoggerMessage(2, LogLevel.Debug, "Request not tagged: {Reason}.")]
    public static partial void NotTagged(ILogger logger, string reason);

    [LoggerMessage(3, LogLevel.Debug, "Request of app id '{AppId}' (from the {Origin}) not tagged: {Reason}.")]
    public static partial void AppNotTagged(ILogger logger, string appId, string origin, string reason);

    [LoggerMessage(5, LogLevel.Warning, "The app id resolver threw; the request goes out untagged.")]
    public static partial void ResolverFailed(ILogger logger, Exception exception);

    [LoggerMessage(6, LogLevel.Warning, "Changed the caller's {Target} metadata to fit the provider's rules. Removed keys: [{Dropped}]; values adjusted: [{Adjusted}]; dify_source left out for lack of room: {SourceOmitted}.")]
    public static partial void MetadataChanged(ILogger logger, string target, string dropped, string adjusted, bool sourceOmitted);

    [LoggerMessage(7, LogLevel.Warning, "The caller's AdditionalProperties[\"metadata\"] is a {Type}, not a string dictionary; the tags replace it.")]
    public static partial void UnreadableCallerMetadata(ILogger logger, string type);

    [LoggerMessage(8, LogLevel.Debug, "Removed dify_app_id/dify_source that the caller put on a request the layer does not tag.")]
    public static partial void ReservedKeysRemoved(ILogger logger);

    [LoggerMessage(9, LogLevel.Warning, "Tagging the raw request options failed; the request goes out as the caller built it.")]
    public static partial void TaggingFailed(ILogger logger, Exception exception);

    [LoggerMessage(10, LogLevel.Warning, "Deciding how to tag the request failed (the caller's options could not be read); it goes out as the caller built it, untagged.")]
    public static partial void DecisionFailed(ILogger logger, Exception exception);

    [LoggerMessage(11, LogLevel.Error, "Changed DifyMetadata options cannot work and were not applied; the options before the change stay in force. {Reason}")]
    public static partial void OptionsChangeRefused(ILogger logger, string reason);

    [LoggerMessage(12, LogLevel.Warning, "The call's app id (AdditionalProperties[\"dify.app_id\"]) is a {Type}, not a string, an integer or a Guid; the request goes out untagged.")]
    public static partial void CallAppIdUnreadable(ILogger logger, string type);

    [LoggerMessage(13, LogLevel.Warning, "AdditionalProperties[\"dify.app_id\"] holds JSON (options read from a request body?): ignored, so a client cannot choose whom it bills. Name a call's app in code with WithDifyAppId.")]
    public static partial void CallAppIdFromJsonIgnored(ILogger logger);

    [LoggerMessage(14, LogLevel.Warning, "Recording a call on the meter failed; the call's result is unchanged.")]
    public static partial void ReportingFailed(ILogger logger, Exception exception);

    [LoggerMessage(200, LogLevel.Warning, "No price for model '{Model}': its calls record no dify.app.cost (counted in dify.app.cost.unpriced). Add it to DifyMetadata:Prices, or map the name to a priced model in DifyMetadata:ModelAliases.")]
    public static partial void ModelUnpriced(ILogger logger, string model);

    [LoggerMessage(300, LogLevel.Debug, "The request already carried the gateway header '{Header}'; it is replaced by the layer's.")]
    public static partial void GatewayHeaderReplaced(ILogger logger, string header);

    [LoggerMessage(301, LogLevel.Warning, "DifyMetadata:GatewayHeaders are configured, but no request of this layer went out through the header policy, so no gateway received them. Add openAIClientOptions.AddDifyMetadataHeaders() to the OpenAI client's options, or AddDifyGatewayHeaders() to the HttpClient the provider sends with.")]
    public static partial void GatewayHeadersNotSent(ILogger logger);
}
