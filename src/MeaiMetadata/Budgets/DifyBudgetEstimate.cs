using System.ClientModel.Primitives;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Budgets;

/// <summary>An upper bound of the input tokens of one request: everything it sends (instructions, messages, tool
/// definitions, response format).</summary>
/// <remarks>
/// Text is counted with the app's token counter (<see cref="DifyBudgetOptions.CountTokens"/>) when it has one, else by its
/// UTF-8 byte count (every OpenAI token covers at least one byte). Each message adds <see cref="PerMessage"/> tokens plus
/// its role and author name, the request <see cref="PerRequest"/>, each tool <see cref="PerTool"/>. Content that is not text
/// (images, audio, files) counts as the larger of its bytes and <see cref="PerNonText"/> tokens, above the dearest image
/// OpenAI prices (gpt-4o-mini, high detail, 2048 x 768: 2,833 + 8 x 5,667 = 48,169 tokens); a hosted tool's own charges
/// (web search, code interpreter) are not model tokens and are not bounded.
/// </remarks>
internal static class DifyBudgetEstimate
{
    public const int PerRequest = 3;
    public const int PerMessage = 4;
    public const int PerTool = 16;
    public const int PerNonText = 50_000;

    public static long InputTokens(IEnumerable<ChatMessage> messages, ChatOptions? options, string model, Func<string, string, int?>? countTokens)
    {
        long total = PerRequest;
        if (options?.Instructions is { } instructions)
        {
            total += PerMessage + Text(instructions);
        }

        foreach (ChatMessage message in messages)
        {
            total += PerMessage + Utf8(message.Role.Value) + Utf8(message.AuthorName);
            foreach (AIContent content in message.Contents)
            {
                total += content switch
                {
                    TextContent text => Text(text.Text),
                    TextReasoningContent reasoning => Text(reasoning.Text),
                    FunctionCallContent call => Text(call.Name) + Text(call.CallId) + Json(call.Arguments),
                    FunctionResultContent result => Text(result.CallId) + (result.Result is string s ? Text(s) : Json(result.Result)),
                    DataContent data => Math.Max(data.Data.Length, PerNonText),
                    UriContent uri => Math.Max(Utf8(uri.Uri.OriginalString), PerNonText),
                    UsageContent => 0,
                    _ => PerNonText,
                };
            }
        }

        foreach (AITool tool in options?.Tools ?? [])
        {
            total += PerTool + Text(tool.Name) + Text(tool.Description) +
                (tool is AIFunctionDeclaration function ? Text(function.JsonSchema.GetRawText()) : 0);
        }

        if (options?.ResponseFormat is ChatResponseFormatJson json)
        {
            total += PerTool + Text(json.SchemaName) + Text(json.SchemaDescription) + (json.Schema is { } schema ? Text(schema.GetRawText()) : 0);
        }

        return total;

        long Text(string? text)
        {
            if (string.IsNullOrEmpty(text))
            {
                return 0;
            }

            if (countTokens is not null && countTokens(model, text) is int counted)
            {
                return counted;
            }

            return Encoding.UTF8.GetByteCount(text);
        }

        long Json(object? value)
        {
            if (value is null)
            {
                return 0;
            }

            try
            {
                return Text(JsonSerializer.Serialize(value, AIJsonUtilities.DefaultOptions.GetTypeInfo(value.GetType())));
            }
            catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or JsonException)
            {
                return PerNonText; // cannot be serialized here: the conservative rule of content that is not text
            }
        }
    }

    /// <summary>What a caller's raw request options add to a request: their JSON size as input tokens (each token covers at
    /// least one byte), the most output tokens they ask for, and how many answers (<c>n</c>).</summary>
    public static (long InputTokens, int OutputTokens, int Answers) RawOptions(object? raw)
    {
        if (raw is null)
        {
            return (0, 0, 1);
        }

        try
        {
            BinaryData json = raw is IPersistableModel<object> model
                ? model.Write(ModelReaderWriterOptions.Json)
                : new BinaryData(JsonSerializer.SerializeToUtf8Bytes(raw, AIJsonUtilities.DefaultOptions.GetTypeInfo(raw.GetType())));
            using JsonDocument document = JsonDocument.Parse(json);
            int output = 0, answers = 1;
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (JsonProperty property in document.RootElement.EnumerateObject())
                {
                    if (property.Value.TryGetInt32(out int value) && value > 0)
                    {
                        switch (property.Name)
                        {
                            case "max_completion_tokens" or "max_tokens" or "max_output_tokens":
                                output = Math.Max(output, value);
                                break;
                            case "n":
                                answers = value;
                                break;
                        }
                    }
                }
            }

            return (json.ToMemory().Length, output, answers);
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or JsonException or FormatException)
        {
            return (PerNonText, 0, 1); // cannot be measured: the conservative rule of content that is not text
        }
    }

    private static int Utf8(string? text) => string.IsNullOrEmpty(text) ? 0 : Encoding.UTF8.GetByteCount(text);
}
