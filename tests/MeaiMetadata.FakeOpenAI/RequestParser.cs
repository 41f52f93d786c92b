using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace MeaiMetadata.FakeOpenAI;

/// <summary>Parses and validates a request body the way the OpenAI service does (the rules the SDK does not check).</summary>
internal static class RequestParser
{
    internal const int MaxMetadataPairs = 16;
    internal const int MaxMetadataKeyLength = 64;
    internal const int MaxMetadataValueLength = 512;
    internal const string MetadataWithoutStoreMessage = "The 'metadata' parameter is only allowed when 'store' is enabled.";

    private const string NotJsonMessage =
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. " +
        "The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";

    /// <summary>Extracts what can be recorded from <paramref name="body"/> and validates it; the first violation wins.</summary>
    public static ParsedRequest Parse(OpenAIApi api, byte[] body)
    {
        var result = new ParsedRequest();
        if (!Utf8.IsValid(body))
        {
            result.Fail("Invalid Unicode in the request body: it is not valid UTF-8.", null);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            result.Fail(NotJsonMessage, null);
            return result;
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                result.Fail($"Invalid type for request body: expected an object, but got {Describe(root.ValueKind)} instead.", null);
                return result;
            }

            if (FindLoneSurrogate(root, path: "") is { } badPath)
            {
                result.Fail(
                    $"Invalid Unicode in '{badPath}': the string contains a lone UTF-16 surrogate, which cannot be encoded as UTF-8 (surrogates not allowed).",
                    badPath);
            }
            else if (ContainsLoneSurrogateEscape(Encoding.UTF8.GetString(body)))
            {
                // Safety net: the tree walk should already have found it.
                result.Fail("Invalid Unicode in the request body: it contains a lone UTF-16 surrogate escape (surrogates not allowed).", null);
            }

            ReadModel(root, result);
            if (api == OpenAIApi.ChatCompletions)
            {
                ReadMessages(root, result);
            }
            else
            {
                ReadInput(root, result);
            }

            ReadMetadata(root, result);
            result.Store = ReadBoolean(root, "store", result);
            result.Stream = ReadBoolean(root, "stream", result) == true;
            result.IncludeUsage =
                root.TryGetProperty("stream_options", out JsonElement streamOptions) &&
                streamOptions.ValueKind == JsonValueKind.Object &&
                streamOptions.TryGetProperty("include_usage", out JsonElement includeUsage) &&
                includeUsage.ValueKind == JsonValueKind.True;

            if (api == OpenAIApi.ChatCompletions &&
                root.TryGetProperty("metadata", out JsonElement metadata) &&
                metadata.ValueKind == JsonValueKind.Object &&
                metadata.EnumerateObject().Any() &&
                result.Store != true)
            {
                result.Fail(MetadataWithoutStoreMessage, "metadata");
            }

            if (root.TryGetProperty("previous_response_id", out JsonElement previous) && previous.ValueKind == JsonValueKind.String)
            {
                result.PreviousResponseId = TryGetString(previous);
            }

            result.ToolToCall = FindToolToCall(api, root);
        }

        return result;
    }

    /// <summary>Finds the dotted path of the first string (key or value) holding a lone UTF-16 surrogate, or null.</summary>
    private static string? FindLoneSurrogate(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    string? name = TryGetName(property);
                    if (name is null || HasLoneSurrogate(name))
                    {
                        return Join(path, Sanitize(name ?? "\uFFFD"));
                    }

                    if (FindLoneSurrogate(property.Value, Join(path, name)) is { } found)
                    {
                        return found;
                    }
                }

                return null;

            case JsonValueKind.Array:
                int index = 0;
                foreach (JsonElement item in element.EnumerateArray())
                {
                    if (FindLoneSurrogate(item, $"{path}[{index}]") is { } found)
                    {
                        return found;
                    }

                    index++;
                }

                return null;

            case JsonValueKind.String:
                string? value = TryGetString(element);
                return value is null || HasLoneSurrogate(value) ? path : null;

            default:
                return null;
        }
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private static string Sanitize(string text)
    {
        var builder = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(c).Append(text[++i]);
            }
            else
            {
                builder.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
            }
        }

        return builder.ToString();
    }

    /// <summary>True when <paramref name="text"/> holds a surrogate that is not part of a high+low pair.</summary>
    internal static bool HasLoneSurrogate(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when raw JSON text holds a <c>\uD800</c>-<c>\uDFFF</c> escape that is not a high+low escape pair.</summary>
    internal static bool ContainsLoneSurrogateEscape(string json)
    {
        int i = 0;
        while (i < json.Length)
        {
            if (json[i] != '\\' || i + 1 >= json.Length)
            {
                i++;
                continue;
            }

            if (json[i + 1] != 'u' || !TryReadHex4(json, i + 2, out int unit))
            {
                i += 2; // Some other escape (\", \\, \n ...): skip both characters.
                continue;
            }

            if (unit is >= 0xD800 and <= 0xDBFF)
            {
                if (i + 7 < json.Length && json[i + 6] == '\\' && json[i + 7] == 'u' &&
                    TryReadHex4(json, i + 8, out int low) && low is >= 0xDC00 and <= 0xDFFF)
                {
                    i += 12;
                    continue;
                }

                return true;
            }

            if (unit is >= 0xDC00 and <= 0xDFFF)
            {
                return true;
            }

            i += 6;
        }

        return false;
    }

    private static bool TryReadHex4(string text, int start, out int value)
    {
        value = 0;
        if (start + 4 > text.Length)
        {
            return false;
        }

        for (int i = start; i < start + 4; i++)
        {
            int digit = text[i] switch
            {
                >= '0' and <= '9' => text[i] - '0',
                >= 'a' and <= 'f' => text[i] - 'a' + 10,
                >= 'A' and <= 'F' => text[i] - 'A' + 10,
                _ => -1,
            };
            if (digit < 0)
            {
                return false;
            }

            value = (value << 4) | digit;
        }

        return true;
    }

    private static void ReadModel(JsonElement root, ParsedRequest result)
    {
        if (!root.TryGetProperty("model", out JsonElement model) || model.ValueKind == JsonValueKind.Null)
        {
            result.Fail("Missing required parameter: 'model'.", "model");
        }
        else if (model.ValueKind != JsonValueKind.String)
        {
            result.Fail($"Invalid type for 'model': expected a string, but got {Describe(model.ValueKind)} instead.", "model");
        }
        else
        {
            result.Model = TryGetString(model);
        }
    }

    private static void ReadMessages(JsonElement root, ParsedRequest result)
    {
        if (!root.TryGetProperty("messages", out JsonElement messages) || messages.ValueKind == JsonValueKind.Null)
        {
            result.Fail("Missing required parameter: 'messages'.", "messages");
            return;
        }

        if (messages.ValueKind != JsonValueKind.Array)
        {
            result.Fail($"Invalid type for 'messages': expected an array, but got {Describe(messages.ValueKind)} instead.", "messages");
            return;
        }

        if (messages.GetArrayLength() == 0)
        {
            result.Fail("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages");
            return;
        }

        foreach (JsonElement message in messages.EnumerateArray())
        {
            if (message.ValueKind == JsonValueKind.Object && RoleIs(message, "user") &&
                message.TryGetProperty("content", out JsonElement content))
            {
                result.LastUserText = ContentText(content, "text");
            }
        }
    }

    private static void ReadInput(JsonElement root, ParsedRequest result)
    {
        if (!root.TryGetProperty("input", out JsonElement input) || input.ValueKind == JsonValueKind.Null)
        {
            result.Fail("Missing required parameter: 'input'.", "input");
            return;
        }

        if (input.ValueKind == JsonValueKind.String)
        {
            result.LastUserText = TryGetString(input);
            return;
        }

        if (input.ValueKind != JsonValueKind.Array)
        {
            result.Fail($"Invalid type for 'input': expected a string or an array, but got {Describe(input.ValueKind)} instead.", "input");
            return;
        }

        foreach (JsonElement item in input.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.Object && RoleIs(item, "user") &&
                item.TryGetProperty("content", out JsonElement content))
            {
                result.LastUserText = ContentText(content, "input_text");
            }
        }
    }

    private static bool RoleIs(JsonElement item, string role) =>
        item.TryGetProperty("role", out JsonElement value) && value.ValueKind == JsonValueKind.String && TryGetString(value) == role;

    /// <summary>Text of a content value: a string, or the concatenated "text" of its parts of type <paramref name="partType"/>.</summary>
    private static string? ContentText(JsonElement content, string partType)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            return TryGetString(content);
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        StringBuilder? builder = null;
        foreach (JsonElement part in content.EnumerateArray())
        {
            if (part.ValueKind == JsonValueKind.Object &&
                part.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String && TryGetString(type) == partType &&
                part.TryGetProperty("text", out JsonElement text) && text.ValueKind == JsonValueKind.String)
            {
                (builder ??= new StringBuilder()).Append(TryGetString(text));
            }
        }

        return builder?.ToString();
    }

    private static void ReadMetadata(JsonElement root, ParsedRequest result)
    {
        if (!root.TryGetProperty("metadata", out JsonElement metadata) || metadata.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (metadata.ValueKind != JsonValueKind.Object)
        {
            result.Fail($"Invalid type for 'metadata': expected an object, but got {Describe(metadata.ValueKind)} instead.", "metadata");
            return;
        }

        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        int count = metadata.EnumerateObject().Count();
        if (count > MaxMetadataPairs)
        {
            result.Fail(
                $"Invalid 'metadata': too many properties. Expected an object with at most {MaxMetadataPairs} properties, but got an object with {count} properties instead.",
                "metadata");
        }

        foreach (JsonProperty property in metadata.EnumerateObject())
        {
            string key = TryGetName(property) ?? "\uFFFD";
            if (key.Length == 0)
            {
                result.Fail("Invalid 'metadata': keys must be non-empty strings. Expected a string with minimum length 1, but got an empty string instead.", "metadata");
            }
            else if (key.Length > MaxMetadataKeyLength)
            {
                result.Fail(
                    $"Invalid 'metadata': key too long. Expected a string with maximum length {MaxMetadataKeyLength}, but got a string with length {key.Length} instead.",
                    "metadata");
            }

            if (property.Value.ValueKind != JsonValueKind.String)
            {
                result.Fail($"Invalid type for 'metadata.{key}': expected a string, but got {Describe(property.Value.ValueKind)} instead.", "metadata");
                continue;
            }

            string value = TryGetString(property.Value) ?? "\uFFFD";
            if (value.Length > MaxMetadataValueLength)
            {
                result.Fail(
                    $"Invalid 'metadata.{key}': string too long. Expected a string with maximum length {MaxMetadataValueLength}, but got a string with length {value.Length} instead.",
                    "metadata");
            }

            pairs[key] = value;
        }

        result.Metadata = pairs;
    }

    private static bool? ReadBoolean(JsonElement root, string name, ParsedRequest result)
    {
        if (!root.TryGetProperty(name, out JsonElement value))
        {
            return null;
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            case JsonValueKind.Null:
                return null;
            default:
                result.Fail($"Invalid type for '{name}': expected a boolean, but got {Describe(value.ValueKind)} instead.", name);
                return null;
        }
    }

    private static string? FindToolToCall(OpenAIApi api, JsonElement root)
    {
        if (!root.TryGetProperty("tools", out JsonElement tools) || tools.ValueKind != JsonValueKind.Array || tools.GetArrayLength() == 0)
        {
            return null;
        }

        JsonElement first = tools[0];
        if (first.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (api == OpenAIApi.ChatCompletions)
        {
            bool hasToolResult =
                root.TryGetProperty("messages", out JsonElement messages) && messages.ValueKind == JsonValueKind.Array &&
                messages.EnumerateArray().Any(m => m.ValueKind == JsonValueKind.Object && RoleIs(m, "tool"));
            return !hasToolResult &&
                first.TryGetProperty("function", out JsonElement function) && function.ValueKind == JsonValueKind.Object &&
                function.TryGetProperty("name", out JsonElement name) && name.ValueKind == JsonValueKind.String
                ? TryGetString(name)
                : null;
        }
        else
        {
            bool hasToolResult =
                root.TryGetProperty("input", out JsonElement input) && input.ValueKind == JsonValueKind.Array &&
                input.EnumerateArray().Any(i =>
                    i.ValueKind == JsonValueKind.Object &&
                    i.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String &&
                    TryGetString(type) == "function_call_output");
            return !hasToolResult && first.TryGetProperty("name", out JsonElement name) && name.ValueKind == JsonValueKind.String
                ? TryGetString(name)
                : null;
        }
    }

    /// <summary>
    /// The string value; when System.Text.Json refuses it (a lone surrogate escape cannot be transcoded to UTF-8),
    /// the raw text is unescaped here so that the lone surrogate is kept; never throws.
    /// </summary>
    private static string? TryGetString(JsonElement element)
    {
        try
        {
            return element.GetString();
        }
        catch (InvalidOperationException)
        {
            try
            {
                return UnescapeLeniently(element.GetRawText());
            }
            catch (InvalidOperationException)
            {
                return null; // Not valid UTF-8: nothing sensible to record.
            }
        }
    }

    /// <summary>The property name; like <see cref="TryGetString"/> it keeps lone surrogates and never throws.</summary>
    private static string? TryGetName(JsonProperty property)
    {
        try
        {
            return property.Name;
        }
        catch (InvalidOperationException)
        {
            try
            {
                // JsonProperty.ToString() is the raw text of the property, starting at the name's opening quote.
                return UnescapeLeniently(property.ToString());
            }
            catch (InvalidOperationException)
            {
                return null; // Not valid UTF-8: nothing sensible to record.
            }
        }
    }

    /// <summary>Decodes the JSON string literal at the start of <paramref name="raw"/>, keeping lone surrogates; null when malformed.</summary>
    internal static string? UnescapeLeniently(string raw)
    {
        if (raw.Length == 0 || raw[0] != '"')
        {
            return null;
        }

        var builder = new StringBuilder(raw.Length);
        for (int i = 1; i < raw.Length; i++)
        {
            char c = raw[i];
            if (c == '"')
            {
                return builder.ToString();
            }

            if (c != '\\')
            {
                builder.Append(c);
                continue;
            }

            if (++i >= raw.Length)
            {
                return null;
            }

            switch (raw[i])
            {
                case 'u' when TryReadHex4(raw, i + 1, out int unit):
                    builder.Append((char)unit);
                    i += 4;
                    break;
                case 'b': builder.Append('\b'); break;
                case 'f': builder.Append('\f'); break;
                case 'n': builder.Append('\n'); break;
                case 'r': builder.Append('\r'); break;
                case 't': builder.Append('\t'); break;
                case '"' or '\\' or '/': builder.Append(raw[i]); break;
                default: return null;
            }
        }

        return null;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "an unknown value",
    };
}
