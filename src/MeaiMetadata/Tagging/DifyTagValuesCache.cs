using System.Collections.Concurrent;

namespace MeaiMetadata.Tagging;

/// <summary>
/// The normalized values of the app ids seen lately, shared by the whole process: a new <see cref="DifySession"/> for an
/// id seen before (one session per incoming request is the usual server shape), or a resolver returning such an id,
/// reuses the id normalized and the metadata pairs built for it instead of building them again.
/// </summary>
/// <remarks>
/// <para>Only immutable <see cref="DifyTagValues"/> are kept, keyed by (app id, source marker): nothing of a session, a
/// client layer or a request (settings, loggers, caller factories stay with their <see cref="DifyTagSet"/> owner).</para>
/// <para>Bounded at <see cref="Capacity"/> entries. When full, new ids are not kept: their values are built per session,
/// as without a cache, and die young. A miss while full empties the cache if it was last emptied (or started) at least
/// <see cref="RefreshInterval"/> ago (checked on one miss in 64 per thread, to keep clock reads and shared writes off the
/// flood path), so a changing population of apps gets in again.</para>
/// <para>Why not evict on every miss, or empty after a count of misses: under a flood of distinct ids both keep entries
/// alive just long enough to be promoted, and measured 3× (evict per miss) and 1.8× (empty every 1,048,576 misses) the
/// time per request of no cache at 100,000 ids; kept-when-full measured within the noise of no cache.</para>
/// <para>Ids longer than <see cref="MaxCachedIdLength"/> are never kept: they are not real app ids, and the cache must
/// not hold large strings.</para>
/// </remarks>
internal static class DifyTagValuesCache
{
    /// <summary>The most entries kept.</summary>
    public const int Capacity = 1024;

    /// <summary>The longest id kept, in UTF-16 code units: the longest value OpenAI accepts.</summary>
    public const int MaxCachedIdLength = MetadataLimits.MaxValueLength;

    /// <summary>The least time between two emptyings of a full cache.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(10);

    private const int ClockReadEveryMisses = 64; // a power of two

    private static readonly ConcurrentDictionary<(string AppId, string? Source), DifyTagValues> s_values = new();
    private static TimeProvider s_time = TimeProvider.System;
    private static int s_count; // may drift a little from the real count while an emptying races with adds; reset by each emptying
    private static long s_clearedAt = TimeProvider.System.GetTimestamp();

    [ThreadStatic]
    private static int t_missesWhileFull;

    /// <summary>Gets how many entries are kept now.</summary>
    internal static int Count => s_values.Count;

    /// <summary>Gets the values of <paramref name="appId"/> with <paramref name="source"/>, from the cache or new.</summary>
    public static DifyTagValues Get(string appId, string? source)
    {
        if (appId.Length > MaxCachedIdLength)
        {
            return new DifyTagValues(appId, source);
        }

        if (s_values.TryGetValue((appId, source), out DifyTagValues? values))
        {
            return values;
        }

        values = new DifyTagValues(appId, source);
        if (Volatile.Read(ref s_count) < Capacity)
        {
            values.IsShared = true; // before it is published; if another thread wins the add, this one dies young anyway
            if (s_values.TryAdd((appId, source), values))
            {
                Interlocked.Increment(ref s_count);
            }
        }
        else if ((++t_missesWhileFull & (ClockReadEveryMisses - 1)) == 0)
        {
            long clearedAt = Volatile.Read(ref s_clearedAt);
            if (s_time.GetElapsedTime(clearedAt) >= RefreshInterval &&
                Interlocked.CompareExchange(ref s_clearedAt, s_time.GetTimestamp(), clearedAt) == clearedAt)
            {
                Empty(); // only the caller that moved the time on empties it
            }
        }

        return values;
    }

    /// <summary>Empties the cache and restarts its clock on <paramref name="time"/> (tests).</summary>
    internal static void Clear(TimeProvider? time = null)
    {
        s_time = time ?? TimeProvider.System;
        Volatile.Write(ref s_clearedAt, s_time.GetTimestamp());
        t_missesWhileFull = 0;
        Empty();
    }

    private static void Empty()
    {
        s_values.Clear();
        Volatile.Write(ref s_count, 0);
    }
}
