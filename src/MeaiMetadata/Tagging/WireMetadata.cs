using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata.Tagging;

/// <summary>Which keys go on the wire: OpenAI's limits, the merge of the tags into the caller's metadata, and how the
/// caller's <c>AdditionalProperties</c> entries are read. Every channel goes through here.</summary>
/// <remarks>When room runs out, <c>dify_app_id</c> comes first, then the caller's keys oldest first, then
/// <c>dify_source</c>. The keys <c>dify_app_id</c> and <c>dify_source</c> are always the layer's: a caller value under
/// either name is replaced or removed, so request metadata cannot choose whom usage is attributed to.</remarks>
internal static class WireMetadata
{
    /// <summary>OpenAI's limits (Chat Completions and Responses alike): 16 pairs, 64-character keys, 512-character values.</summary>
    public const int MaxPairs = 16, MaxKeyLength = 64, MaxValueLength = 512;

    /// <summary>OpenAI's rules: keys of 1 to 64 characters of valid UTF-16, values cut to 512 without a lone surrogate.</summary>
    public static readonly MetadataRules OpenAI = new(
        MaxPairs,
        key => key.Length is > 0 and <= MaxKeyLength && ReferenceEquals(Normalize(key, MaxKeyLength), key),
        value => Normalize(value, MaxValueLength));

    /// <summary>Returns <paramref name="value"/> with each lone surrogate replaced by U+FFFD, cut to <paramref name="maxLength"/>
    /// UTF-16 characters without splitting a pair; the same instance when nothing changes.</summary>
    public static string Normalize(string value, int maxLength)
    {
        ReadOnlySpan<char> span = value;
        int first = span.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0)
        {
            return span.Length <= maxLength ? value : value[..maxLength];
        }

        var builder = new StringBuilder(Math.Min(span.Length, maxLength));
        bool changed = span.Length > maxLength;
        for (int i = 0; i < span.Length; i++)
        {
            bool pair = char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]);
            if (builder.Length + (pair ? 2 : 1) > maxLength)
            {
                changed = true;
                break;
            }

            if (pair)
            {
                builder.Append(span[i]).Append(span[++i]);
            }
            else
            {
                changed |= char.IsSurrogate(span[i]);
                builder.Append(char.IsSurrogate(span[i]) ? '\uFFFD' : span[i]);
            }
        }

        return changed ? builder.ToString() : value;
    }

    /// <summary>Returns <paramref name="value"/> with each Unicode scalar that <paramref name="isAllowed"/> rejects (after
    /// lower-casing, when <paramref name="lowerCase"/>) replaced by one <c>_</c>, cut to <paramref name="maxLength"/>; the
    /// same instance when nothing changes. Only ASCII is ever allowed.</summary>
    public static string ReplaceDisallowed(string value, int maxLength, Func<char, bool> isAllowed, bool lowerCase)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length <= maxLength && value.All(isAllowed))
        {
            return value;
        }

        var builder = new StringBuilder(Math.Min(value.Length, maxLength));
        foreach (Rune rune in value.EnumerateRunes())
        {
            if (builder.Length == maxLength)
            {
                break;
            }

            Rune mapped = lowerCase ? Rune.ToLowerInvariant(rune) : rune;
            builder.Append(mapped.IsAscii && isAllowed((char)mapped.Value) ? (char)mapped.Value : '_');
        }

        return builder.ToString();
    }

    /// <summary>Merges the tags into <paramref name="metadata"/> (the request's own) within <paramref name="rules"/>, and
    /// logs what the caller lost.</summary>
    public static (List<string>? Dropped, List<string>? Adjusted, bool SourceOmitted) Merge(IDictionary<string, string> metadata, string appId, string? source, MetadataRules rules, ILogger logger, string target)
    {
        _ = metadata.Remove(DifyMetadataKeys.AppId);
        _ = metadata.Remove(DifyMetadataKeys.Source);
        List<string>? dropped = null, adjusted = null;
        foreach (KeyValuePair<string, string> pair in metadata.Count == 0 ? [] : metadata.ToArray())
        {
            if (pair.Value is null || !rules.IsValidKey(pair.Key))
            {
                _ = metadata.Remove(pair.Key);
                (dropped ??= []).Add(pair.Key);
            }
            else if (rules.NormalizeValue(pair.Value) is var value && !ReferenceEquals(value, pair.Value))
            {
                metadata[pair.Key] = value;
                (adjusted ??= []).Add(pair.Key);
            }
        }

        // dify_app_id needs one slot: the newest caller keys give way.
        if (metadata.Count > rules.MaxPairs - 1)
        {
            foreach (string key in metadata.Keys.Skip(rules.MaxPairs - 1).ToArray())
            {
                _ = metadata.Remove(key);
                (dropped ??= []).Add(key);
            }
        }

        metadata[DifyMetadataKeys.AppId] = rules.NormalizeValue(appId);
        bool sourceFits = metadata.Count < rules.MaxPairs;
        if (source is not null && sourceFits)
        {
            metadata[DifyMetadataKeys.Source] = rules.NormalizeValue(source);
        }

        bool sourceOmitted = source is not null && !sourceFits;
        if (dropped is not null || adjusted is not null || sourceOmitted)
        {
            Log.MetadataChanged(logger, target, string.Join(", ", dropped ?? []), string.Join(", ", adjusted ?? []), sourceOmitted);
        }

        return (dropped, adjusted, sourceOmitted);
    }

    /// <summary>Removes the caller's <c>dify_app_id</c>/<c>dify_source</c> from metadata the layer does not tag.</summary>
    public static void RemoveReservedKeys(IDictionary<string, string>? metadata, ILogger logger)
    {
        if (metadata is { Count: > 0 } && (metadata.Remove(DifyMetadataKeys.AppId) | metadata.Remove(DifyMetadataKeys.Source)))
        {
            Log.ReservedKeysRemoved(logger);
        }
    }

    /// <summary>Reads the caller's <c>AdditionalProperties["metadata"]</c>: a string or object dictionary, or a JSON object
    /// (node, element or text); <see langword="null"/> for anything else, which the tags replace.</summary>
    public static Dictionary<string, string>? ReadPairs(object? value)
    {
        try
        {
            return value switch
            {
                null => new(StringComparer.Ordinal),
                IEnumerable<KeyValuePair<string, string>> strings => Read(strings),
                IEnumerable<KeyValuePair<string, object?>> objects => Read(objects),
                JsonObject node => Read(node),
                JsonElement { ValueKind: JsonValueKind.Object } element => Read(element.EnumerateObject().Select(p => KeyValuePair.Create(p.Name, p.Value))),
                string or JsonElement { ValueKind: JsonValueKind.String } when Text(value) is { } json && json.TrimStart().StartsWith('{') => ReadPairs(JsonElement.Parse(json)),
                _ => null,
            };
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null; // not JSON, or JSON that escapes a lone surrogate, which System.Text.Json refuses to decode
        }

        static Dictionary<string, string> Read<T>(IEnumerable<KeyValuePair<string, T>> source)
        {
            var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach ((string key, T item) in source)
            {
                if (key is not null && Text(item) is { } text)
                {
                    pairs[key] = text;
                }
            }

            return pairs;
        }
    }

    /// <summary>Reads an explicit store flag (a bool, <c>"true"</c>/<c>"false"</c>, or JSON of either); otherwise <see langword="null"/>.</summary>
    public static bool? ReadFlag(object? value) => value switch
    {
        bool flag => flag,
        JsonElement { ValueKind: JsonValueKind.True } => true,
        JsonElement { ValueKind: JsonValueKind.False } => false,
        JsonValue node when node.TryGetValue(out bool flag) => flag,
        _ => bool.TryParse(Text(value), out bool parsed) ? parsed : null,
    };

    /// <summary>A scalar as text: strings as they are, numbers and booleans as JSON writes them; else <see langword="null"/>.</summary>
    private static string? Text(object? value) => value switch
    {
        string text => text,
        bool flag => flag ? "true" : "false",
        JsonElement { ValueKind: JsonValueKind.String } json => json.GetString(),
        JsonElement { ValueKind: JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False } json => json.GetRawText(),
        JsonValue node when node.TryGetValue(out JsonElement element) => Text(element),
        JsonValue node when node.TryGetValue(out string? text) => text,
        JsonValue node => node.ToJsonString(),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => null,
    };
}

/// <summary>One provider's rules for request metadata: how many pairs, which keys, what values (normalized).</summary>
internal sealed record MetadataRules(int MaxPairs, Func<string, bool> IsValidKey, Func<string, string> NormalizeValue);

/// <summary>The tags alone as a read-only string map: the <c>AdditionalProperties["metadata"]</c> of a caller without metadata.</summary>
internal sealed class TagPairs(string appId, string? source) : IReadOnlyDictionary<string, string>
{
    public string AppId => appId;

    public string? Source => source;

    public int Count => source is null ? 1 : 2;

    public IEnumerable<string> Keys => this.Select(pair => pair.Key);

    public IEnumerable<string> Values => this.Select(pair => pair.Value);

    public string this[string key] => TryGetValue(key, out string? value) ? value : throw new KeyNotFoundException($"'{key}' is not a tag.");

    public bool ContainsKey(string key) => TryGetValue(key, out _);

    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out string value)
    {
        value = key == DifyMetadataKeys.AppId ? appId : key == DifyMetadataKeys.Source ? source : null;
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

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
