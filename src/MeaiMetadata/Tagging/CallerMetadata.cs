using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MeaiMetadata.Tagging;

/// <summary>Reads the metadata a caller put in <see cref="Microsoft.Extensions.AI.ChatOptions.AdditionalProperties"/>.</summary>
internal static class CallerMetadata
{
    /// <summary>Copies the string pairs of <paramref name="value"/> into <paramref name="target"/>.</summary>
    /// <returns><see langword="false"/> when <paramref name="value"/> is not a dictionary the layer can read (it is then replaced).</returns>
    public static bool TryCopy(object? value, Dictionary<string, string> target)
    {
        switch (value)
        {
            case null:
                return true;

            case IEnumerable<KeyValuePair<string, string>> pairs:
                foreach (KeyValuePair<string, string> pair in pairs)
                {
                    if (pair.Key is not null && pair.Value is not null)
                    {
                        target[pair.Key] = pair.Value;
                    }
                }

                return true;

            case IEnumerable<KeyValuePair<string, object?>> pairs:
                foreach (KeyValuePair<string, object?> pair in pairs)
                {
                    if (pair.Key is not null && AsText(pair.Value) is { } text)
                    {
                        target[pair.Key] = text;
                    }
                }

                return true;

            case JsonObject json:
                foreach (KeyValuePair<string, JsonNode?> property in json)
                {
                    if (property.Value is JsonValue scalar && AsText(scalar) is { } text)
                    {
                        target[property.Key] = text;
                    }
                }

                return true;

            case JsonDocument document:
                return TryCopy(document.RootElement, target);

            case string text when text.AsSpan().TrimStart().StartsWith('{'):
                return TryCopyJsonText(text, target);

            case System.Collections.IDictionary dictionary:
                foreach (System.Collections.DictionaryEntry entry in dictionary)
                {
                    if (entry.Key is string key && AsText(entry.Value) is { } text)
                    {
                        target[key] = text;
                    }
                }

                return true;

            case JsonElement { ValueKind: JsonValueKind.String } json when StringOf(json) is var text && text.AsSpan().TrimStart().StartsWith('{'):
                return TryCopyJsonText(text, target);

            case JsonElement { ValueKind: JsonValueKind.Object } json:
                try
                {
                    foreach (JsonProperty property in json.EnumerateObject())
                    {
                        if (AsText(property.Value) is { } text)
                        {
                            target[property.Name] = text;
                        }
                    }
                }
                catch (InvalidOperationException)
                {
                    // A name or value escapes a lone surrogate, which System.Text.Json refuses to decode.
                    CopyJsonLeniently(json, target);
                }

                return true;

            default:
                return false;
        }
    }

    /// <summary>Copies JSON text of an object, as a caller that serialized its metadata hands it in.</summary>
    private static bool TryCopyJsonText(string text, Dictionary<string, string> target)
    {
        try
        {
            using JsonDocument parsed = JsonDocument.Parse(text);
            return TryCopy(parsed.RootElement, target);
        }
        catch (JsonException)
        {
            return false; // not JSON after all: unreadable, replaced by the tags with a warning
        }
    }

    /// <summary>Reads an explicit store flag: <see langword="true"/>, <see langword="false"/>, or <see langword="null"/> when not a flag.</summary>
    public static bool? ReadFlag(object? value) => value switch
    {
        bool flag => flag,
        string text when bool.TryParse(text, out bool flag) => flag,
        JsonElement { ValueKind: JsonValueKind.True } => true,
        JsonElement { ValueKind: JsonValueKind.False } => false,
        JsonElement { ValueKind: JsonValueKind.String } json when bool.TryParse(StringOf(json), out bool flag) => flag,
        JsonValue node when node.TryGetValue(out JsonElement element) => ReadFlag(element),
        JsonValue node when node.TryGetValue(out bool flag) => flag,
        JsonValue node when node.TryGetValue(out string? text) && bool.TryParse(text, out bool flag) => flag,
        _ => null,
    };

    private static string? AsText(object? value) => value switch
    {
        string text => text,
        JsonValue node when node.TryGetValue(out JsonElement element) => AsText(element),
        JsonValue node when node.TryGetValue(out string? text) => text,
        JsonValue node when node.TryGetValue(out bool flag) => flag ? "true" : "false",
        JsonValue node => node.ToJsonString(),
        JsonElement { ValueKind: JsonValueKind.String } json => StringOf(json),
        JsonElement { ValueKind: JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False } json => json.GetRawText(),
        bool flag => flag ? "true" : "false",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => null,
    };

    /// <summary>Reads the scalar members of a JSON object whose strings may escape lone surrogates: each lone surrogate
    /// becomes U+FFFD, so nothing else the caller sent is lost.</summary>
    private static void CopyJsonLeniently(JsonElement json, Dictionary<string, string> target)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json.GetRawText()));
        string? name = null;
        while (reader.Read())
        {
            if (reader.CurrentDepth != 1)
            {
                continue;
            }

            if (reader.TokenType == JsonTokenType.PropertyName)
            {
                name = Unescape(reader.ValueSpan);
                continue;
            }

            switch (reader.TokenType)
            {
                case JsonTokenType.String:
                    target[name!] = Unescape(reader.ValueSpan);
                    break;
                case JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False:
                    target[name!] = Encoding.UTF8.GetString(reader.ValueSpan);
                    break;
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    reader.Skip();
                    break;
            }
        }
    }

    /// <summary>The text of a JSON string, with the same care as <see cref="CopyJsonLeniently"/>.</summary>
    private static string StringOf(JsonElement json)
    {
        try
        {
            return json.GetString()!;
        }
        catch (InvalidOperationException)
        {
            string literal = json.GetRawText();
            return Unescape(Encoding.UTF8.GetBytes(literal[1..^1]));
        }
    }

    /// <summary>Decodes the escapes of a JSON string's content without validating UTF-16, then replaces lone surrogates.</summary>
    private static string Unescape(ReadOnlySpan<byte> utf8)
    {
        ReadOnlySpan<char> text = Encoding.UTF8.GetString(utf8);
        var decoded = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\' || i + 1 >= text.Length)
            {
                decoded.Append(text[i]);
                continue;
            }

            char escape = text[++i];
            switch (escape)
            {
                case 'u' when i + 4 < text.Length &&
                    ushort.TryParse(text.Slice(i + 1, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort code):
                    decoded.Append((char)code);
                    i += 4;
                    break;
                case 'b': decoded.Append('\b'); break;
                case 'f': decoded.Append('\f'); break;
                case 'n': decoded.Append('\n'); break;
                case 'r': decoded.Append('\r'); break;
                case 't': decoded.Append('\t'); break;
                default: decoded.Append(escape); break; // the escaped quote, backslash or slash
            }
        }

        return MetadataText.Normalize(decoded.ToString(), int.MaxValue);
    }
}
