using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace MeaiMetadata.FakeOpenAI;

/// <summary>Writes Chat Completions answers (JSON and server-sent events) in the shapes the official SDK accepts.</summary>
internal static class ChatCompletionsAnswer
{
    public static Task WriteAsync(HttpResponse response, AnswerContext context, CancellationToken cancellationToken) =>
        context.Request.Stream
            ? WriteStreamAsync(response, context, cancellationToken)
            : JsonAnswer.WriteJsonAsync(response, StatusCodes.Status200OK, writer =>
            {
                writer.WriteStartObject();
                WriteHeader(writer, context, "chat.completion");
                writer.WriteStartArray("choices");
                writer.WriteStartObject();
                writer.WriteNumber("index", 0);
                writer.WriteStartObject("message");
                writer.WriteString("role", "assistant");
                if (context.ToolToCall is { } name)
                {
                    writer.WriteNull("content");
                    WriteToolCalls(writer, name, streaming: false);
                }
                else
                {
                    writer.WriteString("content", context.Options.ReplyText);
                }

                writer.WriteNull("refusal");
                writer.WriteEndObject();
                writer.WriteNull("logprobs");
                writer.WriteString("finish_reason", context.ToolToCall is null ? "stop" : "tool_calls");
                writer.WriteEndObject();
                writer.WriteEndArray();
                WriteUsage(writer, context);
                writer.WriteEndObject();
            }, cancellationToken);

    private static async Task WriteStreamAsync(HttpResponse response, AnswerContext context, CancellationToken cancellationToken)
    {
        JsonAnswer.StartEvents(response);

        // 1. The content (text or tool call) with the role.
        await JsonAnswer.WriteEventAsync(response, null, writer => WriteChunk(writer, context, delta =>
        {
            delta.WriteString("role", "assistant");
            if (context.ToolToCall is { } name)
            {
                delta.WriteNull("content");
                WriteToolCalls(delta, name, streaming: true);
            }
            else
            {
                delta.WriteString("content", context.Options.ReplyText);
            }
        }, finishReason: null), cancellationToken);

        // 2. The finish reason with an empty delta.
        await JsonAnswer.WriteEventAsync(response, null, writer => WriteChunk(writer, context, _ => { },
            finishReason: context.ToolToCall is null ? "stop" : "tool_calls"), cancellationToken);

        // 3. Usage in a chunk without choices, only when stream_options.include_usage is true.
        if (context.Request.IncludeUsage)
        {
            await JsonAnswer.WriteEventAsync(response, null, writer =>
            {
                writer.WriteStartObject();
                WriteHeader(writer, context, "chat.completion.chunk");
                writer.WriteStartArray("choices");
                writer.WriteEndArray();
                WriteUsage(writer, context);
                writer.WriteEndObject();
            }, cancellationToken);
        }

        await JsonAnswer.WriteRawDataAsync(response, "[DONE]", cancellationToken);
    }

    private static void WriteChunk(Utf8JsonWriter writer, AnswerContext context, Action<Utf8JsonWriter> writeDelta, string? finishReason)
    {
        writer.WriteStartObject();
        WriteHeader(writer, context, "chat.completion.chunk");
        writer.WriteStartArray("choices");
        writer.WriteStartObject();
        writer.WriteNumber("index", 0);
        writer.WriteStartObject("delta");
        writeDelta(writer);
        writer.WriteEndObject();
        writer.WriteNull("logprobs");
        JsonAnswer.WriteStringOrNull(writer, "finish_reason", finishReason);
        writer.WriteEndObject();
        writer.WriteEndArray();
        writer.WriteNull("usage");
        writer.WriteEndObject();
    }

    private static void WriteHeader(Utf8JsonWriter writer, AnswerContext context, string objectType)
    {
        writer.WriteString("id", $"chatcmpl-{context.Sequence}");
        writer.WriteString("object", objectType);
        writer.WriteNumber("created", context.Created);
        writer.WriteString("model", context.Model);
        writer.WriteString("system_fingerprint", "fp_fake");
    }

    private static void WriteToolCalls(Utf8JsonWriter writer, string functionName, bool streaming)
    {
        writer.WriteStartArray("tool_calls");
        writer.WriteStartObject();
        if (streaming)
        {
            writer.WriteNumber("index", 0);
        }

        writer.WriteString("id", AnswerContext.CallId);
        writer.WriteString("type", "function");
        writer.WriteStartObject("function");
        writer.WriteString("name", functionName);
        writer.WriteString("arguments", AnswerContext.CallArguments);
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteEndArray();
    }

    private static void WriteUsage(Utf8JsonWriter writer, AnswerContext context)
    {
        writer.WriteStartObject("usage");
        writer.WriteNumber("prompt_tokens", context.Usage.InputTokens);
        writer.WriteNumber("completion_tokens", context.Usage.OutputTokens);
        writer.WriteNumber("total_tokens", context.TotalTokens);
        if (context.Usage.CachedInputTokens > 0)
        {
            writer.WriteStartObject("prompt_tokens_details");
            writer.WriteNumber("cached_tokens", context.Usage.CachedInputTokens);
            writer.WriteEndObject();
        }

        if (context.Usage.ReasoningTokens > 0)
        {
            writer.WriteStartObject("completion_tokens_details");
            writer.WriteNumber("reasoning_tokens", context.Usage.ReasoningTokens);
            writer.WriteEndObject();
        }

        writer.WriteEndObject();
    }
}
