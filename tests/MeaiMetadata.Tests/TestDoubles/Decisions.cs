using MeaiMetadata.Tagging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MeaiMetadata.Tests.TestDoubles;

/// <summary>Builds request decisions the way the layer would, for tests of the mappings and the merge.</summary>
public static class Decisions
{
    /// <summary>A decision for <paramref name="appId"/>: tagged unless <paramref name="store"/> is false (the default rule).</summary>
    public static DifyRequestDecision Of(
        string appId = "app", string? source = "dify", bool? store = true, bool streaming = false, ILogger? logger = null, bool? tagged = null) =>
        new(MetadataText.Normalize(appId, MetadataLimits.MaxValueLength), source, "session", tagged ?? store is not false, store, streaming,
            "attached", mapping: null, logger ?? NullLogger.Instance);

    /// <summary>The store flag the layer decides when the caller set <paramref name="callerStore"/> under <paramref name="policy"/>.</summary>
    public static bool? StoreFor(DifyStorePolicy policy, bool? callerStore = null) =>
        callerStore ?? (policy == DifyStorePolicy.EnableWhenUnset ? true : null);
}
