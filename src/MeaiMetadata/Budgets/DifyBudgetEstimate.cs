using System.Buffers;
using System.ClientModel.Primitives;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

#pragma warning disable OPENAI001 // The Responses API types are marked experimental by the OpenAI SDK.

namespace MeaiMetadata.Budgets;

/// <summary>An upper bound of the input tokens of one request: everything it sends (instructions, messages, tool
/// definitions, response format).</summary>
/// <remarks>
/// <para>Text is counted with the app's token counter (<see cref="DifyBudgetOptions.CountTokens"/>) when it has one, else by
/// its UTF-8 byte count (every OpenAI token covers at least one byte). Each message adds <see cref="PerMessage"/> tokens plus
/// its role and author name, the request <see cref="PerRequest"/>, each tool <see cref="PerTool"/>. Encrypted reasoning sent
/// back (<see cref="TextReasoningContent.ProtectedData"/>) counts its bytes.</para>
/// <para>Content that is not text (images, audio, files), in a message or in a function result, counts as the larger of its
/// bytes and <see cref="PerNonText"/> tokens, above the dearest image OpenAI prices (gpt-4o-mini, high detail, 2048 x 768:
/// 2,833 + 8 x 5,667 = 48,169 tokens). A PDF given by its bytes is billed per page, an image of each page plus its extracted
/// text (OpenAI, "File inputs"): it counts <see cref="PerNonText"/> per page object (<c>/Type /Page</c>, found in its bytes
/// and in its Flate-compressed streams, where object streams keep them) plus its bytes and the bytes of those streams
/// inflated (a bound of its text), at least <see cref="PerNonText"/>. A file given by URL or file id counts
/// <see cref="PerNonText"/>: its pages cannot be seen.</para>
/// <para>The OpenAI adapters send some raw representations instead of what they stand for: a message's
/// <see cref="ChatMessage.RawRepresentation"/> that is an <c>OpenAI.Chat.ChatMessage</c> (Chat Completions), a content's that
/// is an <c>OpenAI.Chat.ChatMessageContentPart</c> (Chat Completions), <c>OpenAI.Responses.ResponseContentPart</c> or
/// <c>OpenAI.Responses.ResponseItem</c> (Responses). Those count as the larger of what the message or content counts and the
/// raw model's serialized size (<see cref="ModelReaderWriter"/>, one token per byte) plus the rule above for each image,
/// audio or file part it holds.</para>
/// <para>A hosted tool's own charges (web search, code interpreter) are not model tokens and are not bounded.</para>
/// </remarks>
internal static class DifyBudgetEstimate
{
    public const int PerRequest = 3;
    public const int PerMessage = 4;
    public const int PerTool = 16;
    public const int PerNonText = 50_000;

    /// <summary>Inflating a PDF's streams stops here: the estimate is then above every model's context window.</summary>
    internal const long MaxInflatedPdfBytes = 8L << 20;

    /// <summary>At most this many streams of a PDF are inflated: a file of many tiny streams is not read for ever.</summary>
    private const int MaxPdfStreams = 4096;

    public static long InputTokens(IEnumerable<ChatMessage> messages, ChatOptions? options, string model, Func<string, string, int?>? countTokens)
    {
        long total = PerRequest;
        if (options?.Instructions is { } instructions)
        {
            total += PerMessage + Text(instructions);
        }

        foreach (ChatMessage message in messages)
        {
            long counted = Utf8(message.Role.Value) + Utf8(message.AuthorName);
            foreach (AIContent content in message.Contents)
            {
                counted += Math.Max(Content(content), Raw(content.RawRepresentation));
            }

            // Chat Completions sends such a message instead of the Contents (Responses ignores a message's raw representation).
            if (message.RawRepresentation is OpenAI.Chat.ChatMessage raw)
            {
                counted = Math.Max(counted, Raw(raw));
            }

            total += PerMessage + counted;
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

        long Content(AIContent content) => content switch
        {
            TextContent text => Text(text.Text),
            TextReasoningContent reasoning => Text(reasoning.Text) + Utf8(reasoning.ProtectedData),
            FunctionCallContent call => Text(call.Name) + Text(call.CallId) + Json(call.Arguments),
            FunctionResultContent result => Text(result.CallId) + Result(result.Result),
            UsageContent => 0,
            _ => NonText(content),
        };

        // Chat Completions sends a function result as JSON text; Responses sends the contents of a result made of contents
        // as parts (an image as an image).
        long Result(object? result) => result switch
        {
            string s => Text(s),
            AIContent content => Math.Max(Json(content), Content(content)),
            IEnumerable<AIContent> contents => Math.Max(Json(contents), contents.Sum(Content)),
            _ => Json(result),
        };

        // The raw models the OpenAI adapters send: their serialized size, plus the rule of non-text content for their parts.
        static long Raw(object? raw) => raw switch
        {
            OpenAI.Chat.ChatMessage message => Wire(message) + message.Content.Sum(p => NonTextPart(p)),
            OpenAI.Chat.ChatMessageContentPart part => Wire(part) + NonTextPart(part),
            OpenAI.Responses.ResponseContentPart part => Wire(part) + NonTextPart(part),
            OpenAI.Responses.MessageResponseItem item => Wire<OpenAI.Responses.ResponseItem>(item) + item.Content.Sum(p => NonTextPart(p)),
            OpenAI.Responses.ResponseItem item => Wire(item),
            _ => 0,
        };

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
            long nonText = NonTextItems(document.RootElement);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (JsonProperty property in document.RootElement.EnumerateObject())
                {
                    if (property.Value.ValueKind == JsonValueKind.Number && property.Value.TryGetInt32(out int value) && value > 0)
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

            return (json.ToMemory().Length + nonText, output, answers);
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or JsonException or FormatException)
        {
            return (PerNonText, 0, 1); // cannot be measured: the conservative rule of content that is not text
        }
    }

    /// <summary>The rule of content that is not text for each image, audio or file item of raw request options (an item by
    /// URL or file id is only a few bytes of JSON).</summary>
    private static long NonTextItems(JsonElement element)
    {
        long total = 0;
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty property in element.EnumerateObject())
            {
                if (property.NameEquals("type"u8) && property.Value.ValueKind == JsonValueKind.String &&
                    property.Value.GetString() is "input_image" or "input_file" or "input_audio" or "image_url" or "file")
                {
                    total += PerNonText;
                }

                total += NonTextItems(property.Value);
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement item in element.EnumerateArray())
            {
                total += NonTextItems(item);
            }
        }

        return total;
    }

    /// <summary>Content that is not text: a PDF by its pages, other data by the larger of its bytes and
    /// <see cref="PerNonText"/>; a URL or file id <see cref="PerNonText"/>.</summary>
    private static long NonText(AIContent content) => content switch
    {
        DataContent data => NonTextBytes(data.Data, data.MediaType),
        UriContent uri => Math.Max(Utf8(uri.Uri.OriginalString), PerNonText),
        _ => PerNonText,
    };

    private static long NonTextBytes(ReadOnlyMemory<byte> data, string? mediaType) =>
        IsPdf(data.Span, mediaType) ? PdfTokens(data) : Math.Max(data.Length, PerNonText);

    private static long NonTextPart(OpenAI.Chat.ChatMessageContentPart part) =>
        part.Kind is OpenAI.Chat.ChatMessageContentPartKind.Text or OpenAI.Chat.ChatMessageContentPartKind.Refusal ? 0 :
        part.FileBytes is { } file ? NonTextBytes(file.ToMemory(), part.FileBytesMediaType) :
        PerNonText;

    private static long NonTextPart(OpenAI.Responses.ResponseContentPart part) =>
        IsText(part) || part.Kind == OpenAI.Responses.ResponseContentPartKind.Refusal ? 0 :
        part.InputFileBytes is { } file ? NonTextBytes(file.ToMemory(), part.InputFileBytesMediaType) :
        PerNonText;

    private static bool IsText(OpenAI.Responses.ResponseContentPart part) =>
        part.Kind == OpenAI.Responses.ResponseContentPartKind.InputText || part.Kind == OpenAI.Responses.ResponseContentPartKind.OutputText;

    private static long Wire<T>(T model)
        where T : IPersistableModel<T>
    {
        try
        {
            return ModelReaderWriter.Write(model, ModelReaderWriterOptions.Json, OpenAI.OpenAIContext.Default).ToMemory().Length;
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or FormatException or JsonException)
        {
            return PerNonText; // the SDK cannot serialize it either (the request fails unsent): the rule of content not text
        }
    }

    /// <summary>A PDF by its media type or by its header (<c>%PDF-</c> within the first 1,024 bytes, as readers accept it).</summary>
    private static bool IsPdf(ReadOnlySpan<byte> data, string? mediaType) =>
        mediaType?.StartsWith("application/pdf", StringComparison.OrdinalIgnoreCase) == true ||
        data[..Math.Min(data.Length, 1024)].IndexOf("%PDF-"u8) >= 0;

    /// <summary><see cref="PerNonText"/> per page object, plus the PDF's bytes and its Flate streams' inflated bytes; at least
    /// <see cref="PerNonText"/>.</summary>
    internal static long PdfTokens(ReadOnlyMemory<byte> pdf)
    {
        ArraySegment<byte> bytes = MemoryMarshal.TryGetArray(pdf, out ArraySegment<byte> segment) ? segment : pdf.ToArray();
        ReadOnlySpan<byte> span = bytes;
        long pages = PageNames(span, final: true);
        long inflated = 0;
        int at = 0;
        for (int streams = 0; inflated < MaxInflatedPdfBytes && streams < MaxPdfStreams; streams++)
        {
            int found = span[at..].IndexOf("stream"u8);
            if (found < 0)
            {
                break;
            }

            int start = at + found + "stream".Length;
            if (at + found >= 3 && span.Slice(at + found - 3, 3).SequenceEqual("end"u8))
            {
                at = start; // an "endstream" whose stream was not found
                continue;
            }

            start += start < span.Length && span[start] == '\r' ? 1 : 0;
            start += start < span.Length && span[start] == '\n' ? 1 : 0;
            int length = span[start..].IndexOf("endstream"u8);
            if (length < 0)
            {
                break;
            }

            inflated += Inflate(bytes.Slice(start, length), MaxInflatedPdfBytes - inflated, ref pages);
            at = start + length + "endstream".Length;
        }

        return Math.Max(PerNonText, (pages * PerNonText) + pdf.Length + inflated);
    }

    /// <summary>Inflates one stream (zlib, as FlateDecode writes it), counting its page objects; 0 bytes if it is not Flate.</summary>
    private static long Inflate(ArraySegment<byte> stream, long limit, ref long pages)
    {
        const int Carry = 5; // "/Page": a name split between two reads is counted once, in the second
        byte[] buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        long total = 0;
        int kept = 0;
        try
        {
            using var zlib = new ZLibStream(new MemoryStream(stream.Array!, stream.Offset, stream.Count, writable: false), CompressionMode.Decompress);
            while (total < limit)
            {
                int read = zlib.Read(buffer, kept, buffer.Length - kept);
                if (read == 0)
                {
                    break;
                }

                total += read;
                int length = kept + read;
                pages += PageNames(buffer.AsSpan(0, length), final: false);
                kept = Math.Min(Carry, length);
                buffer.AsSpan(length - kept, kept).CopyTo(buffer);
            }
        }
        catch (InvalidDataException)
        {
            // not Flate (an image, another filter) or damaged: its raw bytes are counted
        }
        finally
        {
            pages += PageNames(buffer.AsSpan(0, kept), final: true);
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return total;
    }

    /// <summary>Counts the PDF name <c>/Page</c> (a page object's type; not <c>/Pages</c>, <c>/PageLabels</c>, ...). With
    /// <paramref name="final"/> false a name in the last 5 bytes is left to the next call.</summary>
    private static int PageNames(ReadOnlySpan<byte> data, bool final)
    {
        int count = 0;
        for (int at = 0, found; (found = data[at..].IndexOf("/Page"u8)) >= 0; at += found + 1)
        {
            int next = at + found + "/Page".Length;
            if (next < data.Length ? !IsRegular(data[next]) : final)
            {
                count++;
            }
        }

        return count;

        // PDF 32000-1, 7.2.2: anything but white-space and delimiters continues a name.
        static bool IsRegular(byte b) => b is not (0 or 9 or 10 or 12 or 13 or 32 or (byte)'(' or (byte)')' or (byte)'<' or (byte)'>'
            or (byte)'[' or (byte)']' or (byte)'{' or (byte)'}' or (byte)'/' or (byte)'%');
    }

    private static int Utf8(string? text) => string.IsNullOrEmpty(text) ? 0 : Encoding.UTF8.GetByteCount(text);
}
