using System.Globalization;
using System.Text.Json;

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

            case JsonElement { ValueKind: JsonValueKind.Object } json:
                foreach (JsonProperty property in json.EnumerateObject())
                {
                    if (AsText(property.Value) is { } text)
                    {
                        target[property.Name] = text;
                    }
                }

                return true;

            default:
                return false;
        }
    }

    /// <summary>Reads an explicit store flag: <see langword="true"/>, <see langword="false"/>, or <see langword="null"/> when not a flag.</summary>
    public static bool? ReadFlag(object? value) => value switch
    {
        bool flag => flag,
        string text when bool.TryParse(text, out bool flag) => flag,
        JsonElement { ValueKind: JsonValueKind.True } => true,
        JsonElement { ValueKind: JsonValueKind.False } => false,
        _ => null,
    };

    private static string? AsText(object? value) => value switch
    {
        string text => text,
        JsonElement { ValueKind: JsonValueKind.String } json => json.GetString(),
        JsonElement { ValueKind: JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False } json => json.GetRawText(),
        bool flag => flag ? "true" : "false",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => null,
    };
}
