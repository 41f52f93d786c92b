using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace MeaiMetadata.FakeOpenAI;

/// <summary>Writes Responses API answers (JSON and server-sent events) in the shapes the official SDK accepts.</summary>
internal static class ResponsesAnswer
{
    public static Task WriteAsync(HttpResponse response, AnswerContext context, CancellationToken cancellationToken) =>
        context.Request.Stream
            ? WriteStreamAsync(response, context, cancellationToken)
            : JsonAnswer.WriteJsonAsync(
                response, StatusCodes.Status200OK, writer => WriteResponseObject(writer, context, completed: true), cancellationToken);

    private static async Task WriteStreamAsync(HttpResponse response, AnswerContext context, CancellationToken cancellationToken)
    {
        JsonAnswer.StartEvents(response);
        int sequence = 0;
        string itemId = ItemId(context);

        Task SendAsync(string type, Action<Utf8JsonWriter> writeFields)
        {
            int number = sequence++;
            return JsonAnswer.WriteEventAsync(response, type, writer =>
            {
                writer.WriteStartObject();
                writer.WriteString("type", type);
                writer.WriteNumber("sequence_number", number);
                writeFields(writer);
                writer.WriteEndObject();
            }, cancellationToken);
        }

        await SendAsync("response.created", w =>
        {
            w.WritePropertyName("response");
            WriteResponseObject(w, context, completed: false);
        });
        await SendAsync("response.in_progress", w =>
        {
            w.WritePropertyName("response");
            WriteResponseObject(w, context, completed: false);
        });
        await SendAsync("response.output_item.added", w =>
        {
            w.WriteNumber("output_index", 0);
            w.WritePropertyName("item");
            WriteOutputItem(w, context, completed: false);
        });

        if (context.ToolToCall is { } name)
        {
            await SendAsync("response.function_call_arguments.delta", w =>
            {
                w.WriteString("item_id", itemId);
                w.WriteNumber("output_index", 0);
                w.WriteString("delta", AnswerContext.CallArguments);
            });
            await SendAsync("response.function_call_arguments.done", w =>
            {
                w.WriteString("item_id", itemId);
                w.WriteNumber("output_index", 0);
                w.WriteString("name", name);
                w.WriteString("arguments", AnswerContext.CallArguments);
            });
        }
        else
        {
            string text = context.Options.ReplyText;
            await SendAsync("response.content_part.added", w =>
            {
                WriteContentLocation(w, itemId);
                w.WritePropertyName("part");
                WriteOutputText(w, "");
            });
            await SendAsync("response.output_text.delta", w =>
            {
                WriteContentLocation(w, itemId);
                w.WriteString("delta", text);
                w.WriteStartArray("logprobs");
                w.WriteEndArray();
            });
            await SendAsync("response.output_text.done", w =>
            {
                WriteContentLocation(w, itemId);
                w.WriteString("text", text);
                w.WriteStartArray("logprobs");
                w.WriteEndArray();
            });
            await SendAsync("response.content_part.done", w =>
            {
                WriteContentLocation(w, itemId);
                w.WritePropertyName("part");
                WriteOutputText(w, text);
            });
        }

        await SendAsync("response.output_item.done", w =>
        {
            w.WriteNumber("output_index", 0);
            w.WritePropertyName("item");
            WriteOutputItem(w, context, completed: true);
        });
        await SendAsync("response.completed", w =>
        {
            w.WritePropertyName("response");
            WriteResponseObject(w, context, completed: true);
        });
    }

    private static void WriteContentLocation(Utf8JsonWriter writer, string itemId)
    {
        writer.WriteString("item_id", itemId);
        writer.WriteNumber("output_index", 0);
        writer.WriteNumber("content_index", 0);
    }

    private static string ItemId(AnswerContext context) => context.ToolToCall is null ? $"msg_{context.Sequence}" : $"fc_{context.Sequence}";

    /// <summary>The response object; in progress it has no output and no usage.</summary>
    private static void WriteResponseObject(Utf8JsonWriter writer, AnswerContext context, bool completed)
    {
        writer.WriteStartObject();
        writer.WriteString("id", $"resp_{context.Sequence}");
        writer.WriteString("object", "response");
        writer.WriteNumber("created_at", context.Created);
        writer.WriteString("status", completed ? "completed" : "in_progress");
        writer.WriteNull("error");
        writer.WriteNull("incomplete_details");
        writer.WriteString("model", context.Model);
        writer.WriteStartArray("output");
        if (completed)
        {
            WriteOutputItem(writer, context, completed: true);
        }

        writer.WriteEndArray();
        writer.WriteBoolean("parallel_tool_calls", true);
        JsonAnswer.WriteStringOrNull(writer, "previous_response_id", context.Request.PreviousResponseId);
        writer.WriteString("tool_choice", "auto");
        writer.WriteStartArray("tools");
        writer.WriteEndArray();
        writer.WriteBoolean("store", context.Request.Store ?? true);
        writer.WriteStartObject("metadata");
        foreach (KeyValuePair<string, string> pair in context.Request.Metadata ?? new Dictionary<string, string>())
        {
            writer.WriteString(pair.Key, pair.Value);
        }

        writer.WriteEndObject();
        if (completed)
        {
            writer.WriteStartObject("usage");
            writer.WriteNumber("input_tokens", context.Usage.InputTokens);
            writer.WriteStartObject("input_tokens_details");
            writer.WriteNumber("cached_tokens", context.Usage.CachedInputTokens);
            writer.WriteEndObject();
            writer.WriteNumber("output_tokens", context.Usage.OutputTokens);
            writer.WriteStartObject("output_tokens_details");
            writer.WriteNumber("reasoning_tokens", context.Usage.ReasoningTokens);
            writer.WriteEndObject();
            writer.WriteNumber("total_tokens", context.TotalTokens);
            writer.WriteEndObject();
        }
        else
        {
            writer.WriteNull("usage");
        }

        writer.WriteEndObject();
    }

    /// <summary>The single output item: an assistant message with the reply text, or a function call.</summary>
    private static void WriteOutputItem(Utf8JsonWriter writer, AnswerContext context, bool completed)
    {
        string status = completed ? "completed" : "in_progress";
        writer.WriteStartObject();
        if (context.ToolToCall is { } name)
        {
            writer.WriteString("type", "function_call");
            writer.WriteString("id", ItemId(context));
            writer.WriteString("call_id", AnswerContext.CallId);
            writer.WriteString("name", name);
            writer.WriteString("arguments", completed ? AnswerContext.CallArguments : "");
            writer.WriteString("status", status);
        }
        else
        {
            writer.WriteString("type", "message");
            writer.WriteString("id", ItemId(context));
            writer.WriteString("status", status);
            writer.WriteString("role", "assistant");
            writer.WriteStartArray("content");
            if (completed)
            {
                WriteOutputText(writer, context.Options.ReplyText);
            }

            writer.WriteEndArray();
        }

        writer.WriteEndObject();
    }

    private static void WriteOutputText(Utf8JsonWriter writer, string text)
    {
        writer.WriteStartObject();
        writer.WriteString("type", "output_text");
        writer.WriteString("text", text);
        writer.WriteStartArray("annotations");
        writer.WriteEndArray();
        writer.WriteStartArray("logprobs");
        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
