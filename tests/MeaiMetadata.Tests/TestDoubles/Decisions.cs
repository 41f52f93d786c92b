using MeaiMetadata.Tagging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MeaiMetadata.Tests.TestDoubles;

/// <summary>Builds request decisions the way the layer would, for tests of the mappings and the merge.</summary>
public static class Decisions
{
    /// <summary>A decision for <paramref name="appId"/>: tagged unless <paramref name="store"/> is false (the default rule).</summary>
    public static DifyRequestDecision Of(
        string appId = "app", string? source = "dify", bool? store = true, bool streaming = false, ILogger? logger = null, bool? tagged = null,
        Dictionary<string, string>? callerPairs = null)
    {
        var options = new DifyMetadataOptions { Source = source };
        logger ??= NullLogger.Instance;
        var settings = DifyMetadataSettings.Create(options, logger, new DifyMetadataChatClient(new TestChatClient(), options, logger));
        return new(settings, WireMetadata.Normalize(appId, WireMetadata.MaxValueLength), fromCall: false, store, tagged ?? store is not false,
            streaming, isPoll: false, hasMapping: true, session: null, callerFactory: null, callerPairs);
    }

    /// <summary>The store flag the layer decides when the caller set <paramref name="callerStore"/> under <paramref name="policy"/>.</summary>
    public static bool? StoreFor(DifyStorePolicy policy, bool? callerStore = null) =>
        callerStore ?? (policy == DifyStorePolicy.EnableWhenUnset ? true : null);
}
