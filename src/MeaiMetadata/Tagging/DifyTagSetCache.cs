using System.Collections.Concurrent;

namespace MeaiMetadata.Tagging;

/// <summary>
/// The tag sets of the app ids seen lately, shared by the whole process: a new <see cref="DifySession"/> for an id seen
/// before (one session per incoming request is the usual server shape), or a resolver returning such an id, reuses the
/// tags normalized for it instead of building them again.
/// </summary>
/// <remarks>
/// <para>Bounded at <see cref="Capacity"/> ids. When full, new ids are not kept: their tag set is built per session, as
/// without a cache, and dies young. A miss while full empties the cache if it was last emptied (or started) at least
/// <see cref="RefreshInterval"/> ago (checked on one miss in 64, to keep clock reads off the flood path), so a changing
/// population of apps gets in again.</para>
/// <para>Why not evict on every miss, or empty after a count of misses: under a flood of distinct ids both keep tag sets
/// alive just long enough to be promoted, and measured 3× (evict per miss) and 1.8× (empty every 1,048,576 misses) the
/// time per request of no cache at 100,000 ids; kept-when-full measured within the noise of no cache.</para>
/// <para>Ids longer than <see cref="MaxCachedIdLength"/> are never kept: they are not real app ids, and the cache must
/// not hold large strings. A tag set holds only what its id and source determine, and the raw-options factories of its
/// latest requests (for the same app), so sharing it between sessions of one app shares nothing with another app.</para>
/// </remarks>
internal static class DifyTagSetCache
{
    /// <summary>The most ids kept.</summary>
    public const int Capacity = 1024;

    /// <summary>The longest id kept, in UTF-16 code units: the longest value OpenAI accepts.</summary>
    public const int MaxCachedIdLength = MetadataLimits.MaxValueLength;

    /// <summary>The least time between two emptyings of a full cache.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(10);

    private static readonly ConcurrentDictionary<string, DifyTagSet> s_tags = new(StringComparer.Ordinal);
    private static TimeProvider s_time = TimeProvider.System;
    private const int ClockReadEveryMisses = 64; // a power of two: the clock is read on one miss in 64 while full

    private static int s_count;
    private static int s_missesWhileFull;
    private static long s_clearedAt = TimeProvider.System.GetTimestamp();

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
        else if ((++s_missesWhileFull & (ClockReadEveryMisses - 1)) == 0) // racy on purpose: a lost count only delays a check
        {
            long clearedAt = Volatile.Read(ref s_clearedAt);
            if (s_time.GetElapsedTime(clearedAt) >= RefreshInterval &&
                Interlocked.CompareExchange(ref s_clearedAt, s_time.GetTimestamp(), clearedAt) == clearedAt)
            {
                Empty(); // only the caller that moved the time on empties it; racing adds may leave s_count a little high
            }
        }

        return tags;
    }

    /// <summary>Empties the cache and restarts its clock on <paramref name="time"/> (tests).</summary>
    internal static void Clear(TimeProvider? time = null)
    {
        s_time = time ?? TimeProvider.System;
        Volatile.Write(ref s_clearedAt, s_time.GetTimestamp());
        Empty();
    }

    private static void Empty()
    {
        s_tags.Clear();
        Volatile.Write(ref s_count, 0);
    }
}
