using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace MeaiMetadata.Tagging;

/// <summary>The tags alone as a read-only string map: <c>dify_app_id</c> and, when set, <c>dify_source</c>.</summary>
/// <remarks>What the <c>AdditionalProperties</c> channel carries when the caller brought no metadata of its own: one small
/// object instead of a dictionary and its read-only wrapper (measured in benchmarks/README).</remarks>
internal sealed class MetadataPairs(string appId, string? source) : IReadOnlyDictionary<string, string>
{
    public int Count => source is null ? 1 : 2;

    public IEnumerable<string> Keys => source is null ? [DifyMetadataKeys.AppId] : [DifyMetadataKeys.AppId, DifyMetadataKeys.Source];

    public IEnumerable<string> Values => source is null ? [appId] : [appId, source];

    public string this[string key] => TryGetValue(key, out string? value) ? value : throw new KeyNotFoundException($"The key '{key}' is not among the tags.");

    public bool ContainsKey(string key) => TryGetValue(key, out _);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out string value)
    {
        value = string.Equals(key, DifyMetadataKeys.AppId, StringComparison.Ordinal) ? appId
            : source is not null && string.Equals(key, DifyMetadataKeys.Source, StringComparison.Ordinal) ? source
            : null;
        return value is not null;
    }

    public IEnumerator<KeyValuePair<string, string>> GetEnumerator()
    {
        yield return new(DifyMetadataKeys.AppId, appId);
        if (source is not null)
        {
            yield return new(DifyMetadataKeys.Source, source);
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
