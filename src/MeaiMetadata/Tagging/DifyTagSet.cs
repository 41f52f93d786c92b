using MeaiMetadata.Providers;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tagging;

/// <summary>
/// The tags of one app id as one client layer uses them: the shared, immutable <see cref="DifyTagValues"/>, and the
/// raw-options factories this layer handed out last for the app.
/// </summary>
/// <remarks>
/// Owned by one <see cref="DifyMetadataChatClient"/> (its table of tag sets), never by the process-wide cache: the
/// factories hold the layer's settings (logger, meter) and the caller's own factory, which may capture request data, so
/// they must not outlive the layer nor be overwritten by another layer's requests for the same app.
/// </remarks>
internal sealed class DifyTagSet
{
    // The raw-options factories handed out last, one per call shape (streaming or not); reused while the same client
    // layer tags requests with the same caller factory, so a request in a session allocates no delegate.
    private RawOptionsTagger? _lastTagger;
    private RawOptionsTagger? _lastStreamingTagger;

    /// <summary>Initializes a new instance over shared values.</summary>
    public DifyTagSet(DifyTagValues values) => Values = values;

    /// <summary>Initializes a new instance over values of its own (tests).</summary>
    public DifyTagSet(string appId, string? source)
        : this(new DifyTagValues(appId, source))
    {
    }

    /// <summary>Gets the values, possibly shared with other sessions of the same app.</summary>
    public DifyTagValues Values { get; }

    /// <summary>Gets the app id as it was given.</summary>
    public string InputAppId => Values.InputAppId;

    /// <summary>Gets the app id as it is sent: lone surrogates replaced, at most 512 UTF-16 characters, no pair split.</summary>
    public string AppId => Values.AppId;

    /// <summary>Gets the normalized source marker, or <see langword="null"/> when none is sent.</summary>
    public string? Source => Values.Source;

    /// <summary>Gets the tags as read-only metadata pairs.</summary>
    public IReadOnlyDictionary<string, string> Pairs => Values.Pairs;

    /// <summary>Gets the factory that tags the raw options of one request.</summary>
    public Func<IChatClient, object?> GetRawRepresentationFactory(
        DifyMetadataSettings settings, Func<IChatClient, object?>? callerFactory, bool? callerStore, bool streaming)
    {
        ref RawOptionsTagger? slot = ref streaming ? ref _lastStreamingTagger : ref _lastTagger;
        RawOptionsTagger? tagger = slot;
        if (tagger is null || !tagger.Matches(settings, callerFactory, callerStore, streaming))
        {
            tagger = new RawOptionsTagger(settings, this, callerFactory, callerStore, streaming);
            slot = tagger;
        }

        return tagger.Factory;
    }
}
