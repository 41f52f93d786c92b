using System.ClientModel;
using System.Text.Json;
using OpenAI.Chat;

namespace MeaiMetadata.SpendTool;

/// <summary>Spend per app and model from OpenAI's own records: the Stored Completions of Chat Completions requests that
/// were sent with <c>store: true</c> (this layer's default for tagged requests).</summary>
/// <remarks>
/// OpenAI's list endpoint (<c>GET /v1/chat/completions</c>) filters by metadata and model but not by date, so the report
/// pages newest first (<c>order=desc</c>, up to 100 per page) and stops at the first completion older than
/// <see cref="DifySpendReportOptions.Since"/>. The Responses API has no list endpoint: its per-app figures come from the
/// <c>dify.app.cost</c> counter alone. Uses the OpenAI SDK's experimental <c>ChatClient.GetChatCompletionsAsync</c> (OPENAI001).
/// Moved out of the core package into the <c>meai-spend</c> tool (internal; the demo compiles this file too).
/// </remarks>
internal sealed class DifySpendReport
{
    private DifySpendReport(IReadOnlyList<DifySpendRow> rows, int read)
    {
        Rows = rows;
        Read = read;
    }

    /// <summary>Gets the rows, by app id (ordinal, completions without an app id last) and model.</summary>
    public IReadOnlyList<DifySpendRow> Rows { get; }

    /// <summary>Gets how many stored completions were read, those outside the range included.</summary>
    public int Read { get; }

    /// <summary>Gets the total cost of the priced rows, in US dollars.</summary>
    public decimal TotalCost => Rows.Sum(r => r.Cost ?? 0m);

    /// <summary>Lists the stored completions of the range and sums them per app and model.</summary>
    /// <param name="client">The Chat Completions client of the account (its model is not used).</param>
    /// <param name="options">The range, the filters and the prices.</param>
    /// <param name="progress">Told the number of completions read after each page, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">The cancellation token.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ClientResultException">The endpoint answered an error (after the SDK's own retries of 429 and 5xx).</exception>
    public static async Task<DifySpendReport> FromStoredCompletionsAsync(
        ChatClient client, DifySpendReportOptions options, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PageSize, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.PageSize, 100, nameof(options));

#pragma warning disable OPENAI001 // Stored Completions listing is experimental in the OpenAI SDK; the report depends on it by design.
        var listOptions = new ChatCompletionCollectionOptions
        {
            Order = ChatCompletionCollectionOrder.Descending,
            PageSizeLimit = options.PageSize,
            Model = options.Model,
        };
        if (options.AppId is { } appId)
        {
            listOptions.Metadata[DifyMetadataKeys.AppId] = appId;
        }

        AsyncCollectionResult<ChatCompletion> pages = client.GetChatCompletionsAsync(listOptions, cancellationToken);
#pragma warning restore OPENAI001

        long since = options.Since.ToUnixTimeSeconds();
        long? until = options.Until?.ToUnixTimeSeconds();
        var totals = new Dictionary<(string? App, string Model), Totals>();
        int read = 0;

        // ChatCompletion has no Metadata property in SDK 2.14: the raw pages carry it.
        await foreach (ClientResult page in pages.GetRawPagesAsync().WithCancellation(cancellationToken))
        {
            using JsonDocument document = JsonDocument.Parse(page.GetRawResponse().Content);
            bool pastStart = false;
            foreach (JsonElement item in document.RootElement.GetProperty("data").EnumerateArray())
            {
                read++;
                long created = item.GetProperty("created").GetInt64();
                if (created < since)
                {
                    pastStart = true; // newest first: every later item is older still
                    break;
                }

                if (created >= until)
                {
                    continue;
                }

                string? app = item.TryGetProperty("metadata", out JsonElement metadata) && metadata.ValueKind == JsonValueKind.Object &&
                    metadata.TryGetProperty(DifyMetadataKeys.AppId, out JsonElement id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
                string model = item.TryGetProperty("model", out JsonElement m) && m.ValueKind == JsonValueKind.String ? m.GetString() ?? "" : "";
                Totals sum = totals.GetValueOrDefault((app, model));
                if (item.TryGetProperty("usage", out JsonElement usage) && usage.ValueKind == JsonValueKind.Object)
                {
                    sum.Input += Number(usage, "prompt_tokens");
                    sum.Output += Number(usage, "completion_tokens");
                    if (usage.TryGetProperty("prompt_tokens_details", out JsonElement details) && details.ValueKind == JsonValueKind.Object)
                    {
                        sum.Cached += Number(details, "cached_tokens");
                    }
                }

                sum.Requests++;
                totals[(app, model)] = sum;
            }

            progress?.Report(read);
            if (pastStart)
            {
                break;
            }
        }

        DifySpendRow[] rows = [.. totals
            .OrderBy(t => t.Key.App is null ? 1 : 0).ThenBy(t => t.Key.App, StringComparer.Ordinal).ThenBy(t => t.Key.Model, StringComparer.Ordinal)
            .Select(t => new DifySpendRow(t.Key.App, t.Key.Model, t.Value.Requests, t.Value.Input, t.Value.Cached, t.Value.Output,
                options.Prices.GetCost(t.Key.Model, t.Value.Input, t.Value.Cached, t.Value.Output)))];
        return new DifySpendReport(rows, read);

        static long Number(JsonElement parent, string name) =>
            parent.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.Number ? value.GetInt64() : 0;
    }

    private struct Totals
    {
        public long Requests, Input, Cached, Output;
    }
}
