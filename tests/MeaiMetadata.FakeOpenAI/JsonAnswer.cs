using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace MeaiMetadata.FakeOpenAI;

/// <summary>Helpers that write JSON bodies and server-sent events to a response.</summary>
internal static class JsonAnswer
{
    private static readonly byte[] s_dataPrefix = Encoding.UTF8.GetBytes("data: ");
    private static readonly byte[] s_eventEnd = Encoding.UTF8.GetBytes("\n\n");

    /// <summary>Serializes what <paramref name="write"/> writes into UTF-8 JSON bytes.</summary>
    public static ReadOnlyMemory<byte> Build(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        return buffer.WrittenMemory;
    }

    /// <summary>Writes a complete JSON answer with the given status code.</summary>
    public static async Task WriteJsonAsync(HttpResponse response, int statusCode, Action<Utf8JsonWriter> write, CancellationToken cancellationToken)
    {
        ReadOnlyMemory<byte> body = Build(write);
        response.StatusCode = statusCode;
        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body, cancellationToken);
    }

    /// <summary>Writes an OpenAI error answer: <c>{"error":{"message","type","param","code"}}</c>.</summary>
    public static Task WriteErrorAsync(
        HttpResponse response, int statusCode, string message, string type, string? param, string? code, CancellationToken cancellationToken) =>
        WriteJsonAsync(response, statusCode, writer =>
        {
            writer.WriteStartObject();
            writer.WriteStartObject("error");
            writer.WriteString("message", message);
            writer.WriteString("type", type);
            WriteStringOrNull(writer, "param", param);
            WriteStringOrNull(writer, "code", code);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }, cancellationToken);

    /// <summary>Starts a server-sent events answer.</summary>
    public static void StartEvents(HttpResponse response)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
    }

    /// <summary>Writes one event: an optional <c>event:</c> line, then <c>data:</c> with the JSON, then a blank line.</summary>
    public static async Task WriteEventAsync(HttpResponse response, string? eventName, Action<Utf8JsonWriter> write, CancellationToken cancellationToken)
    {
        if (eventName is not null)
        {
            await response.Body.WriteAsync(Encoding.UTF8.GetBytes($"event: {eventName}\n"), cancellationToken);
        }

        await response.Body.WriteAsync(s_dataPrefix, cancellationToken);
        await response.Body.WriteAsync(Build(write), cancellationToken);
        await response.Body.WriteAsync(s_eventEnd, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    /// <summary>Writes a raw <c>data:</c> line (e.g. <c>[DONE]</c>) followed by a blank line.</summary>
    public static async Task WriteRawDataAsync(HttpResponse response, string data, CancellationToken cancellationToken)
    {
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes($"data: {data}\n\n"), cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    public static void WriteStringOrNull(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }
}
