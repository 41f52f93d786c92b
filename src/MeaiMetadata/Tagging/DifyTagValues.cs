using System.Collections.ObjectModel;

namespace MeaiMetadata.Tagging;

/// <summary>
/// What one app id and source marker determine, and nothing else: the normalized id and the metadata pairs. These never
/// change after construction, so one instance can serve every session of the app in the process (see
/// <see cref="DifyTagValuesCache"/>).
/// </summary>
internal sealed class DifyTagValues
{
    // Built on first use: only the AdditionalProperties channel of a request without caller metadata needs it.
    private IReadOnlyDictionary<string, string>? _pairs;

    public DifyTagValues(string appId, string? source)
    {
        InputAppId = appId;
        AppId = MetadataText.Normalize(appId, MetadataLimits.MaxValueLength);
        Source = source;
    }

    /// <summary>Gets a value indicating whether this instance was offered to <see cref="DifyTagValuesCache"/> (set before it is
    /// published there), so client layers may key per-app state on it; it then lives while the cache or a session holds it.
    /// (A thread that loses the race to add the same id keeps an offered instance that dies young: one short-lived table
    /// entry, harmless.)</summary>
    public bool IsShared { get; internal set; }

    /// <summary>Gets the app id as it was given.</summary>
    public string InputAppId { get; }

    /// <summary>Gets the app id as it is sent: lone surrogates replaced, at most 512 UTF-16 characters, no pair split.</summary>
    public string AppId { get; }

    /// <summary>Gets the normalized source marker, or <see langword="null"/> when none is sent.</summary>
    public string? Source { get; }

    /// <summary>Gets the tags as read-only metadata pairs.</summary>
    public IReadOnlyDictionary<string, string> Pairs => _pairs ??= BuildPairs(); // a race builds two equal copies: harmless

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
