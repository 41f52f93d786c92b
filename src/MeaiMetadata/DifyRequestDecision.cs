using MeaiMetadata.Providers;
using MeaiMetadata.Tagging;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata;

/// <summary>What <see cref="DifyMetadataChatClient"/> decided for one request of a known app: whether the request is
/// tagged and what its <c>store</c> flag is. Made once, before the request is passed on; every channel reads it (the raw
/// request options through a <see cref="DifyProviderMapping"/>, <c>ChatOptions.AdditionalProperties</c>, the trace tag, the
/// log and the metrics) and none decides again.</summary>
/// <remarks>This type is immutable and thread-safe.</remarks>
public sealed class DifyRequestDecision
{
    internal DifyRequestDecision(
        string appId, string? source, string origin, bool isTagged, bool? store, bool isStreaming, string? outcome,
        DifyProviderMapping? mapping, ILogger logger, DifySession? session = null)
    {
        Session = session;
        AppId = appId;
        Source = source;
        Origin = origin;
        IsTagged = isTagged;
        Store = store;
        IsStreaming = isStreaming;
        Outcome = outcome;
        Mapping = mapping;
        Logger = logger;
    }

    /// <summary>Gets the app id the request belongs to, as OpenAI receives it: lone surrogates replaced by U+FFFD, cut to
    /// 512 UTF-16 characters without splitting a surrogate pair. Providers with stricter rules normalize it further.</summary>
    public string AppId { get; }

    /// <summary>Gets the source marker (<c>dify_source</c>), or <see langword="null"/> when none is sent.</summary>
    public string? Source { get; }

    /// <summary>Gets a value indicating whether the request carries <c>dify_app_id</c> (and <c>dify_source</c>) as metadata.</summary>
    /// <remarks><see langword="false"/> when the request's <c>store</c> flag keeps metadata off (an explicit
    /// <c>store: false</c>; on Chat Completions, <c>store</c> left unset under <see cref="DifyStorePolicy.LeaveUnset"/>). The
    /// app id is still known: usage is counted for it.</remarks>
    public bool IsTagged { get; }

    /// <summary>Gets the <c>store</c> flag the request goes out with when its raw options leave it unset: the caller's own
    /// value, else <see langword="true"/> under <see cref="DifyStorePolicy.EnableWhenUnset"/>, else <see langword="null"/> (unset).</summary>
    public bool? Store { get; }

    /// <summary>Gets a value indicating whether the request streams.</summary>
    public bool IsStreaming { get; }

    /// <summary>Gets the logger of the layer, for what a mapping changes or drops.</summary>
    public ILogger Logger { get; }

    /// <summary>Gets the session the app id came from, or <see langword="null"/>: once it ended, the request tags nothing.</summary>
    internal DifySession? Session { get; }

    /// <summary>Gets where the app id came from: <c>call</c>, <c>session</c>, <c>resolver</c> or <c>baggage</c>.</summary>
    internal string Origin { get; }

    /// <summary>Gets the outcome the request is counted with when its raw options do not change it, or <see langword="null"/>
    /// for a call that is no model request (a background response poll).</summary>
    internal string? Outcome { get; }

    /// <summary>Gets the mapping of the provider at the end of the pipeline, or <see langword="null"/> when none claims it.</summary>
    internal DifyProviderMapping? Mapping { get; }

    /// <summary>Returns the <c>store</c> flag that applies to raw options that say <paramref name="rawStore"/>.</summary>
    /// <param name="rawStore">The <c>store</c> flag of the raw options (set by the caller's own factory), or <see langword="null"/>.</param>
    /// <returns><paramref name="rawStore"/> when set (the caller's raw options have the last word), else <see cref="Store"/>.</returns>
    public bool? DecideStore(bool? rawStore) => rawStore ?? Store;

    /// <summary>Removes <c>dify_app_id</c> and <c>dify_source</c> that the caller put on an untagged request, so that
    /// attribution can never be chosen by request metadata.</summary>
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
    internal void MergeOpenAI(IDictionary<string, string> metadata, string api) =>
        Log.MergeReported(Logger, MetadataMerge.Apply(metadata, AppId, Source, MetadataRules.OpenAI), api);
}
