using System.Collections.Concurrent;

namespace MeaiMetadata.Tagging;

/// <summary>
/// The tag sets of the app ids seen lately, shared by the whole process: a new <see cref="DifySession"/> for an id seen
/// before (one session per incoming request is the usual server shape), or a resolver returning such an id, reuses the
/// tags normalized for it instead of building them again.
/// </summary>
/// <remarks>
/// Bounded: at most <see cref="Capacity"/> ids, emptied when full, so a flood of distinct ids costs what it would cost
/// without the cache (plus one dictionary node each) and holds at most <see cref="Capacity"/> entries. Ids longer than
/// <see cref="MaxCachedIdLength"/> are never kept: they are not real app ids, and the cache must not hold large strings.
/// A tag set only holds what its id and source determine, and the raw-options factories of its latest requests, so
/// sharing it between sessions of the same app shares nothing of one request with another app.
/// </remarks>
internal static class DifyTagSetCache
{
    /// <summary>The most ids kept.</summary>
    public const int Capacity = 1024;

    /// <summary>The longest id kept, in UTF-16 code units: the longest value OpenAI accepts.</summary>
    public const int MaxCachedIdLength = MetadataLimits.MaxValueLength;

    private static readonly ConcurrentDictionary<string, DifyTagSet> s_tags = new(StringComparer.Ordinal);
    private static int s_added;

    /// <summary>Gets the tag set of <paramref name="appId"/> with <paramref name="source"/>, from the cache or new.</summary>
    public static DifyTagSet Get(string appId, string? source)
    {
        if (appId.Length > MaxCachedIdLength)
        {
            return new DifyTagSet(appId, source);
        }

        if (s_tags.TryGetValue(appId, out DifyTagSet? tags) && string.Equals(tags.Source, source, StringComparison.Ordinal))
        {
            return tags;
        }

        tags = new DifyTagSet(appId, source);
        if (Interlocked.Increment(ref s_added) > Capacity)
        {
            // Full: start again rather than track recency on every hit. Racing callers may each clear; that is harmless.
            s_tags.Clear();
            Volatile.Write(ref s_added, 1);
        }

        s_tags[appId] = tags;
        return tags;
    }

    /// <summary>Gets how many ids are kept now (for tests).</summary>
    internal static int Count => s_tags.Count;
}
