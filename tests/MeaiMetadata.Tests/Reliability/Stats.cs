using System.Collections.Concurrent;
using Xunit.Abstractions;

namespace MeaiMetadata.Tests.Reliability;

/// <summary>Thread-safe counters of what a property actually generated, written to the test output for the README.</summary>
internal sealed class Stats
{
    private readonly ConcurrentDictionary<string, long> _counters = new(StringComparer.Ordinal);

    public void Add(string name, bool when = true)
    {
        if (when)
        {
            _counters.AddOrUpdate(name, 1, (_, n) => n + 1);
        }
    }

    /// <summary>Counts one case and classifies its app id.</summary>
    public void Count(string appId)
    {
        Add("cases");
        Add("id empty", appId.Length == 0);
        Add("id over 512 chars", appId.Length > Oracle.MaxValueLength);
        Add("id 64 KB-1 MB", appId.Length >= 64 * 1024);
        Add("id with lone surrogate", Oracle.HasLoneSurrogate(appId));
        Add("id with control char", appId.AsSpan().IndexOfAnyInRange('\0', '\u001F') >= 0);
        Add("id cut at 511 (pair at the limit)", appId.Length > Oracle.MaxValueLength &&
            Oracle.Normalize(appId, Oracle.MaxValueLength).Length == Oracle.MaxValueLength - 1);
    }

    public void CountPairs(int callerPairs, bool spoofs, int dropped, int adjusted)
    {
        Add("caller pairs > 15", callerPairs > 15);
        Add("caller uses reserved key", spoofs);
        Add("caller keys dropped", dropped > 0);
        Add("caller values adjusted", adjusted > 0);
    }

    public long this[string name] => _counters.TryGetValue(name, out long n) ? n : 0;

    public void Report(ITestOutputHelper output, string property)
    {
        output.WriteLine($"[{property}] " + string.Join(", ", _counters.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}: {p.Value}")));
    }
}
