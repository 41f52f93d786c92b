using System.Collections.ObjectModel;
using MeaiMetadata.Providers;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tagging;

/// <summary>The tags of one app id: normalized once, then shared by every request made for it.</summary>
internal sealed class DifyTagSet
{
    // The raw-options factory handed out last; reused while the same client layer tags requests with the same
    // caller factory, so a request in a session allocates no delegate.
    private RawOptionsTagger? _lastTagger;

    public DifyTagSet(string appId, string? source)
    {
        InputAppId = appId;
        AppId = MetadataText.Normalize(appId, MetadataLimits.MaxValueLength);
        Source = source;

        var pairs = new Dictionary<string, string>(source is null ? 1 : 2, StringComparer.Ordinal)
        {
            [DifyMetadataKeys.AppId] = AppId,
        };
        if (source is not null)
        {
            pairs[DifyMetadataKeys.Source] = source;
        }

        Pairs = new ReadOnlyDictionary<string, string>(pairs);
    }

    /// <summary>Gets the app id as it was given.</summary>
    public string InputAppId { get; }

    /// <summary>Gets the app id as it is sent: lone surrogates replaced, at most 512 UTF-16 characters, no pair split.</summary>
    public string AppId { get; }

    /// <summary>Gets the normalized source marker, or <see langword="null"/> when none is sent.</summary>
    public string? Source { get; }

    /// <summary>Gets the tags as read-only metadata pairs.</summary>
    public IReadOnlyDictionary<string, string> Pairs { get; }

    /// <summary>Gets the factory that tags the raw options of one request.</summary>
    public Func<IChatClient, object?> GetRawRepresentationFactory(
        DifyMetadataSettings settings, Func<IChatClient, object?>? callerFactory, bool? callerStore, bool streaming)
    {
        RawOptionsTagger? tagger = _lastTagger;
        if (tagger is null || !tagger.Matches(settings, callerFactory, callerStore, streaming))
        {
            tagger = new RawOptionsTagger(settings, this, callerFactory, callerStore, streaming);
            _lastTagger = tagger;
        }

        return tagger.Factory;
    }
}
