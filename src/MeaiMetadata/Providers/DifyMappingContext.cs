using MeaiMetadata.Tagging;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata.Providers;

/// <summary>What a <see cref="DifyProviderMapping"/> knows about the request it tags.</summary>
public readonly struct DifyMappingContext
{
    internal DifyMappingContext(DifyTagSet tags, DifyMetadataSettings settings, bool? callerStore, bool isStreaming)
    {
        Tags = tags;
        Settings = settings;
        CallerStore = callerStore;
        IsStreaming = isStreaming;
    }

    /// <summary>Gets the app id as it was given (each provider normalizes it to its own rules).</summary>
    public string AppId => Tags.InputAppId;

    /// <summary>Gets the source marker, or <see langword="null"/> when none is sent.</summary>
    public string? Source => Tags.Source;

    /// <summary>Gets a value indicating whether the request streams.</summary>
    public bool IsStreaming { get; }

    /// <summary>Gets the operator's store policy.</summary>
    public DifyStorePolicy StorePolicy => Settings.StorePolicy;

    /// <summary>Gets the store flag the caller set through <c>AdditionalProperties["store"]</c>, or <see langword="null"/> when it set none.</summary>
    public bool? CallerStore { get; }

    /// <summary>Gets the logger of the layer, for what the mapping changes or drops.</summary>
    public ILogger Logger => Settings.Logger;

    internal DifyTagSet Tags { get; }

    internal DifyMetadataSettings Settings { get; }

    /// <summary>Decides an OpenAI-style store flag for a request whose raw options say <paramref name="store"/>.</summary>
    /// <param name="store">The store flag the raw options carry.</param>
    /// <returns>The flag that applies: the raw options' own value; else the caller's <see cref="CallerStore"/>; else
    /// <see langword="true"/> under <see cref="DifyStorePolicy.EnableWhenUnset"/>, or unset.</returns>
    public bool? DecideStore(bool? store) =>
        store ?? CallerStore ?? (StorePolicy == DifyStorePolicy.EnableWhenUnset ? true : null);

    /// <summary>Removes <c>dify_app_id</c> and <c>dify_source</c> that the caller put on a request the layer does not tag,
    /// so that attribution can never be chosen by request metadata.</summary>
    /// <param name="metadata">The request's metadata, or <see langword="null"/>.</param>
    public void RemoveReservedKeys(IDictionary<string, string>? metadata)
    {
        if (metadata is { Count: > 0 } &&
            (metadata.Remove(DifyMetadataKeys.AppId) | metadata.Remove(DifyMetadataKeys.Source)))
        {
            Log.ReservedKeysRemoved(Logger);
        }
    }

    /// <summary>Merges the tags into OpenAI metadata and logs what the caller lost.</summary>
    internal void MergeOpenAI(IDictionary<string, string> metadata, string api)
    {
        MergeReport report = MetadataMerge.Apply(metadata, Tags);
        Log.MergeReported(Logger, report, api);
    }
}
