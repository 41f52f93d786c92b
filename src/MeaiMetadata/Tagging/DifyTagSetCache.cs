using System.Collections.Concurrent;

namespace MeaiMetadata.Tagging;

/// <summary>
/// The tag sets of the app ids seen lately, shared by the whole process: a new <see cref="DifySession"/> for an id seen
/// before (one session per incoming request is the usual server shape), or a resolver returning such an id, reuses the
/// tags normalized for it instead of building them again.
/// </summary>
/// <remarks>
/// <para>Bounded at <see cref="Capacity"/> ids. When full, new ids are not kept (their tag set is built per session, as
/// without a cache, and dies young); after <see cref="RefreshAfterMisses"/> misses while full the cache is emptied, so
/// a changing population of apps gets in again. A cache that evicted on every miss would, under a flood of distinct ids,
/// keep each tag set alive just long enough to reach generation 1: measured 3× slower per request at 100,000 ids, and
/// emptying it often costs the same way (see <see cref="RefreshAfterMisses"/>); with these settings a flood of distinct ids
/// costs within the noise of no cache at all (one dictionary lookup per session).</para>
/// <para>Ids longer than <see cref="MaxCachedIdLength"/> are never kept: they are not real app ids, and the cache must
/// not hold large strings. A tag set holds only what its id and source determine, and the raw-options factories of its
/// latest requests (for the same app), so sharing it between sessions of one app shares nothing with another app.</para>
/// </remarks>
internal static class DifyTagSetCache
{
    /// <summary>The most ids kept.</summary>
    public const int Capacity = 1024;

    /// <summary>How many misses while full empty the cache (about a million: each emptying refills the cache with objects
    /// that live long enough to be promoted, measured at +300 ns per request at 100,000 ids when it came every 16,384).</summary>
    public const int RefreshAfterMisses = Capacity * Capacity;

    /// <summary>The longest id kept, in UTF-16 code units: the longest value OpenAI accepts.</summary>
    public const int MaxCachedIdLength = MetadataLimits.MaxValueLength;

    private static readonly ConcurrentDictionary<string, DifyTagSet> s_tags = new(StringComparer.Ordinal);
    private static int s_count;
    private static int s_missesWhileFull;

    /// <summary>Gets how many ids are kept now.</summary>
    internal static int Count => s_tags.Count;

    /// <summary>Gets the tag set of <paramref name="appId"/> with <paramref name="source"/>, from the cache or new.</summary>
    public static DifyTagSet Get(string appId, string? source)
    {
        if (appId.Length > MaxCachedIdLength)
        {
            return new DifyTagSet(appId, source);
        }

        if (s_tags.TryGetValue(appId, out DifyTagSet? tags))
        {
            if (string.Equals(tags.Source, source, StringComparison.Ordinal))
            {
                return tags;
            }

            tags = new DifyTagSet(appId, source);
            s_tags[appId] = tags; // the same app under another source marker: the newer one stays
            return tags;
        }

        tags = new DifyTagSet(appId, source);
        if (Volatile.Read(ref s_count) < Capacity)
        {
            if (s_tags.TryAdd(appId, tags))
            {
                Interlocked.Increment(ref s_count);
            }
        }
        else if (Interlocked.Increment(ref s_missesWhileFull) == RefreshAfterMisses)
        {
            Clear(); // only the caller that reached the count empties it; racing adds may leave s_count a little high
        }

        return tags;
    }

    /// <summary>Empties the cache.</summary>
    internal static void Clear()
    {
        s_tags.Clear();
        Volatile.Write(ref s_count, 0);
        Volatile.Write(ref s_missesWhileFull, 0);
    }
}
