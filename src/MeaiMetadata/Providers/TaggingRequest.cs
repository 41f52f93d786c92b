using MeaiMetadata.Tagging;

namespace MeaiMetadata.Providers;

/// <summary>What a <see cref="ProviderMapping"/> needs to tag one request.</summary>
internal readonly struct TaggingRequest(DifyTagSet tags, DifyMetadataSettings settings, bool callerRequestedStore)
{
    /// <summary>Gets the tags to put on the request.</summary>
    public DifyTagSet Tags { get; } = tags;

    /// <summary>Gets the settings of the layer that tags the request.</summary>
    public DifyMetadataSettings Settings { get; } = settings;

    /// <summary>Gets a value indicating whether the caller asked for <c>store: true</c> through <c>AdditionalProperties</c>.</summary>
    public bool CallerRequestedStore { get; } = callerRequestedStore;

    /// <summary>Decides the store flag for a request whose raw options say <paramref name="store"/>.</summary>
    /// <returns>The flag to send, or <see langword="null"/> to leave it unset.</returns>
    public bool? DecideStore(bool? store) =>
        store ?? (Settings.StorePolicy == DifyStorePolicy.EnableWhenUnset || CallerRequestedStore ? true : null);

    /// <summary>Merges the tags into <paramref name="metadata"/> and logs what the caller lost.</summary>
    public void MergeInto(IDictionary<string, string> metadata, string api)
    {
        MergeReport report = MetadataMerge.Apply(metadata, Tags);
        Log.MergeReported(Settings.Logger, report, api);
    }
}
