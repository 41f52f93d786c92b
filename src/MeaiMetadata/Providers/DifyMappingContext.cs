using MeaiMetadata.Tagging;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata.Providers;

/// <summary>What a <see cref="DifyProviderMapping"/> knows about the request it tags.</summary>
public readonly struct DifyMappingContext
{
    internal DifyMappingContext(DifyTagSet tags, DifyMetadataSettings settings, bool callerRequestedStore, bool isStreaming)
    {
        Tags = tags;
        Settings = settings;
        CallerRequestedStore = callerRequestedStore;
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

    /// <summary>Gets a value indicating whether the caller asked for <c>store: true</c> through <c>AdditionalProperties</c>.</summary>
    public bool CallerRequestedStore { get; }

    /// <summary>Gets the logger of the layer, for what the mapping changes or drops.</summary>
    public ILogger Logger => Settings.Logger;

    internal DifyTagSet Tags { get; }

    internal DifyMetadataSettings Settings { get; }

    /// <summary>Decides an OpenAI-style store flag for a request whose raw options say <paramref name="store"/>.</summary>
    /// <param name="store">The store flag the raw options carry.</param>
    /// <returns>The flag to send: an explicit value is kept; an unset one becomes <see langword="true"/> under
    /// <see cref="DifyStorePolicy.EnableWhenUnset"/> or when the caller asked for it, else stays unset.</returns>
    public bool? DecideStore(bool? store) =>
        store ?? (StorePolicy == DifyStorePolicy.EnableWhenUnset || CallerRequestedStore ? true : null);

    /// <summary>Merges the tags into OpenAI metadata and logs what the caller lost.</summary>
    internal void MergeOpenAI(IDictionary<string, string> metadata, string api)
    {
        MergeReport report = MetadataMerge.Apply(metadata, Tags);
        Log.MergeReported(Logger, report, api);
    }
}
