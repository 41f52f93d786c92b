using System.Collections.ObjectModel;
using MeaiMetadata.Providers;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tagging;

/// <summary>The tags of one app id: normalized once, then shared by every request made for it.</summary>
internal sealed class DifyTagSet
{
    // The raw-options factories handed out last, one per call shape (streaming or not); reused while the same client
    // layer tags requests with the same caller factory, so a request in a session allocates no delegate.
    private RawOptionsTagger? _lastTagger;
    private RawOptionsTagger? _lastStreamingTagger;

    // Built on first use: only the AdditionalProperties channel of a request without caller metadata needs it.
    private IReadOnlyDictionary<string, string>? _pairs;

    public DifyTagSet(string appId, string? source)
    {
        InputAppId = appId;
        AppId = MetadataText.Normalize(appId, MetadataLimits.MaxValueLength);
        Source = source;
    }

    /// <summary>Gets the app id as it was given.</summary>
    public string InputAppId { get; }

    /// <summary>Gets the app id as it is sent: lone surrogates replaced, at most 512 UTF-16 characters, no pair split.</summary>
    public string AppId { get; }

    /// <summary>Gets the normalized source marker, or <see langword="null"/> when none is sent.</summary>
    public string? Source { get; }

    /// <summary>Gets the tags as read-only metadata pairs.</summary>
    public IReadOnlyDictionary<string, string> Pairs => _pairs ??= BuildPairs();

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

    private ReadOnlyDictionary<string, string> BuildPairs()
    {
        var pairs = new Dictionary<string, string>(Source is null ? 1 : 2, StringComparer.Ordinal)
        {
            [DifyMetadataKeys.AppId] = AppId,
        };
        if (Source is not null)
        {
            pairs[DifyMetadataKeys.Source] = Source;
        }

        return new ReadOnlyDictionary<string, string>(pairs);
    }
}
