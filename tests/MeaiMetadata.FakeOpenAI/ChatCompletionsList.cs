using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace MeaiMetadata.FakeOpenAI;

/// <summary>Answers <c>GET /chat/completions</c> (listChatCompletions) from the stored completions, in the shape of OpenAI's
/// <c>ChatCompletionList</c>: filters <c>metadata[k]=v</c> (all must match) and <c>model</c>; <c>after</c>, <c>limit</c> (1–100,
/// default 20) and <c>order</c> (<c>asc</c>, the default, or <c>desc</c>, by <c>created</c> then arrival).</summary>
internal static class ChatCompletionsList
{
    public static Task WriteAsync(HttpResponse response, IQueryCollection query, IReadOnlyList<StoredCompletion> stored, CancellationToken cancellationToken)
    {
        string order = query.TryGetValue("order", out var o) ? o.ToString() : "asc";
        if (order is not ("asc" or "desc"))
        {
            return Error(response, $"Invalid value for 'order': '{order}'. Expected 'asc' or 'desc'.", "order", cancellationToken);
        }

        int limit = 20;
        if (query.TryGetValue("limit", out var l) && (!int.TryParse(l.ToString(), out limit) || limit < 1 || limit > 100))
        {
            return Error(response, $"Invalid 'limit': '{l}'. Expected an integer from 1 to 100.", "limit", cancellationToken);
        }

        var metadata = new List<(string Key, string Value)>();
        foreach (KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues> pair in query)
        {
            if (pair.Key.StartsWith("metadata[", StringComparison.Ordinal) && pair.Key.EndsWith(']'))
            {
                metadata.Add((pair.Key["metadata[".Length..^1], pair.Value.ToString()));
            }
        }

        string? model = query.TryGetValue("model", out var m) ? m.ToString() : null;
        IEnumerable<StoredCompletion> matching = stored.Select((c, i) => (c, i))
            .Where(x => model is null || x.c.Model == model)
            .Where(x => metadata.All(kv => x.c.Metadata.TryGetValue(kv.Key, out string? v) && v == kv.Value))
            .OrderBy(x => order == "asc" ? x.c.Created : -x.c.Created).ThenBy(x => order == "asc" ? x.i : -x.i)
            .Select(x => x.c);
        List<StoredCompletion> ordered = [.. matching];
        if (query.TryGetValue("after", out var after))
        {
            int index = ordered.FindIndex(c => c.Id == after.ToString());
            if (index < 0)
            {
                return Error(response, $"No chat completion found with id '{after}'.", "after", cancellationToken);
            }

            ordered = ordered[(index + 1)..];
        }

        List<StoredCompletion> page = [.. ordered.Take(limit)];
        return JsonAnswer.WriteJsonAsync(response, StatusCodes.Status200OK, writer =>
        {
            writer.WriteStartObject();
            writer.WriteString("object", "list");
            writer.WriteStartArray("data");
            foreach (StoredCompletion c in page)
            {
                Write(writer, c);
            }

            writer.WriteEndArray();
            writer.WriteString("first_id", page.Count > 0 ? page[0].Id : "");
            writer.WriteString("last_id", page.Count > 0 ? page[^1].Id : "");
            writer.WriteBoolean("has_more", ordered.Count > page.Count);
            writer.WriteEndObject();
        }, cancellationToken);
    }

    private static Task Error(HttpResponse response, string message, string param, CancellationToken cancellationToken) =>
        JsonAnswer.WriteErrorAsync(response, StatusCodes.Status400BadRequest, message, "invalid_request_error", param, null, cancellationToken);

    private static void Write(Utf8JsonWriter writer, StoredCompletion c)
    {
        writer.WriteStartObject();
        writer.WriteString("id", c.Id);
        writer.WriteString("object", "chat.completion");
        writer.WriteNumber("created", c.Created);
        writer.WriteString("model", c.Model);
        writer.WriteStartArray("choices");
        writer.WriteStartObject();
        writer.WriteNumber("index", 0);
        writer.WriteStartObject("message");
        writer.WriteString("role", "assistant");
        writer.WriteString("content", c.Content);
        writer.WriteNull("refusal");
        writer.WriteEndObject();
        writer.WriteNull("logprobs");
        writer.WriteString("finish_reason", "stop");
        writer.WriteEndObject();
        writer.WriteEndArray();
        writer.WriteStartObject("usage");
        writer.WriteNumber("prompt_tokens", c.PromptTokens);
        writer.WriteNumber("completion_tokens", c.CompletionTokens);
        writer.WriteNumber("total_tokens", c.PromptTokens + c.CompletionTokens);
        writer.WriteStartObject("prompt_tokens_details");
        writer.WriteNumber("cached_tokens", c.CachedTokens);
        writer.WriteEndObject();
        writer.WriteStartObject("completion_tokens_details");
        writer.WriteNumber("reasoning_tokens", c.ReasoningTokens);
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteStartObject("metadata");
        foreach ((string key, string value) in c.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            writer.WriteString(key, value);
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
    }
}
