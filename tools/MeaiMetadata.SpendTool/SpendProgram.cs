using System.ClientModel;
using System.Globalization;
using System.Text.Json;
using OpenAI;
using Spectre.Console;

namespace MeaiMetadata.SpendTool;

/// <summary>Spend per app from OpenAI's Stored Completions; callable in-process by tests.</summary>
internal static class SpendProgram
{
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitUsage = 2;

    /// <summary>The OpenAI SDK's default endpoint.</summary>
    private static readonly Uri s_defaultEndpoint = new("https://api.openai.com/v1/");

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, Func<string, string?> environment, CancellationToken cancellationToken = default)
    {
        SpendArguments? arguments = SpendArguments.Parse(args, out string? parseError);
        if (arguments is null)
        {
            await error.WriteLineAsync($"error: {parseError}");
            await error.WriteLineAsync(SpendArguments.Usage);
            return ExitUsage;
        }

        if (arguments.Help)
        {
            await output.WriteLineAsync(SpendArguments.Usage);
            return ExitOk;
        }

        SpendPrices? prices = SpendPrices.Load(arguments, out string? pricesError);
        if (prices is null)
        {
            await error.WriteLineAsync($"error: {pricesError}");
            return ExitUsage;
        }

        string? key = environment("OPENAI_API_KEY");
        if (string.IsNullOrWhiteSpace(key))
        {
            await error.WriteLineAsync("error: set your OpenAI API key in the OPENAI_API_KEY environment variable.");
            return ExitUsage;
        }

        var options = new OpenAIClientOptions(); // the SDK's default retry policy: 429 and 5xx retried (3 times)
        if (arguments.BaseUrl is { } baseUrl)
        {
            options.Endpoint = baseUrl;
        }

        // The list filters by the value as stored, which the library normalized on the wire: so must the filter.
        string? appId = arguments.App is { } given ? AppIdText.Normalize(given) : null;
        if (appId is not null && appId != arguments.App)
        {
            await error.WriteLineAsync($"--app: looking for the app id as the library sends it: lone surrogates replaced by U+FFFD, cut to {AppIdText.MaxLength} characters ({appId.Length}).");
        }

        var client = new OpenAIClient(new ApiKeyCredential(key), options).GetChatClient("gpt-4o-mini");
        DifySpendReport report;
        try
        {
            report = await DifySpendReport.FromStoredCompletionsAsync(
                client,
                new DifySpendReportOptions { Since = arguments.Since, Until = arguments.Until, AppId = appId, Prices = prices.Table },
                new Progress(error),
                cancellationToken);
        }
        catch (ClientResultException ex) when (ex.Status == 401)
        {
            await error.WriteLineAsync("error: HTTP 401: the endpoint refused the key in OPENAI_API_KEY.");
            return ExitUsage;
        }
        catch (ClientResultException ex) when (ex.Status == 404)
        {
            // OpenAI's API lives under /v1: a base URL without it (https://api.openai.com/) answers 404 to every path.
            Uri endpoint = arguments.BaseUrl ?? s_defaultEndpoint;
            bool hasV1 = endpoint.AbsolutePath.TrimEnd('/').EndsWith("/v1", StringComparison.OrdinalIgnoreCase);
            await error.WriteLineAsync(hasV1
                ? $"error: HTTP 404 from {endpoint}: it does not list stored completions (GET chat/completions under the base URL)."
                : $"error: HTTP 404 from {endpoint}: the base URL probably lacks /v1 (OpenAI's is https://api.openai.com/v1/; try {WithV1(endpoint)}).");
            return hasV1 ? ExitFailed : ExitUsage;
        }
        catch (ClientResultException ex)
        {
            await error.WriteLineAsync($"error: HTTP {ex.Status} after the SDK's retries: {ex.Message}");
            return ExitFailed;
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is AggregateException all && all.InnerExceptions.Any(e => e is HttpRequestException || e.InnerException is HttpRequestException)))
        {
            // The SDK's retries end in an AggregateException of the tries' connection errors.
            await error.WriteLineAsync($"error: the endpoint could not be reached: {(ex is AggregateException all2 ? all2.InnerExceptions[^1].Message : ex.Message)}");
            return ExitFailed;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // An answer the report cannot read (not JSON, a list item without its fields): say what, exit 1.
            await error.WriteLineAsync($"error: the endpoint's answer could not be read ({ex.GetType().Name}): {ex.Message}");
            return ExitFailed;
        }

        await error.WriteLineAsync($"read {report.Read} stored completion(s), {report.Rows.Sum(r => r.Requests)} of them in the range{(arguments.App is null ? "" : " and of the app")}; prices: {prices.Description}.");
        if (report.Rows.Where(r => r.Cost is null).Select(r => r.Model).Distinct().Order(StringComparer.Ordinal).ToArray() is { Length: > 0 } unpriced)
        {
            await error.WriteLineAsync($"no price for {string.Join(", ", unpriced.Select(m => $"'{m}'"))}: its cost is shown as (no price), empty in CSV, null in JSON; give prices with --prices FILE or --config appsettings.json.");
        }

        if (report.Rows.Count == 0)
        {
            // Nothing stored yet, or an --app that matches nothing: say so (the table and chart need a row). CSV and JSON
            // stay machine-readable (a header, an empty array); the line goes to stderr for them.
            string nothing = Nothing(arguments);
            await (arguments.Format == "table" ? output : error).WriteLineAsync(nothing);
            if (arguments.Format == "table")
            {
                return ExitOk;
            }
        }

        Write(output, report, arguments.Format);
        return ExitOk;
    }

    private static Uri WithV1(Uri endpoint) => new(endpoint, endpoint.AbsolutePath.TrimEnd('/') + "/v1/");

    /// <summary>The line for an empty result: the range, the app, and where stored completions come from.</summary>
    private static string Nothing(SpendArguments arguments)
    {
        DateTimeOffset end = arguments.Until ?? new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero).AddDays(1);
        string range = string.Create(CultureInfo.InvariantCulture, $"from {arguments.Since:yyyy-MM-dd} to {end.AddDays(-1):yyyy-MM-dd} (UTC)");
        return arguments.App is { } app
            ? $"No stored completions of app '{app}' {range}. Check the app id: it must match dify_app_id exactly (case included)."
            : $"No stored completions {range}. Only Chat Completions requests sent with store: true are stored (tagged requests are, by default); OpenAI lists them after a short delay.";
    }

    /// <summary>Writes the report as a table (with a bar per app), CSV or JSON. Costs are exact sums, shown to 6 decimals.</summary>
    public static void Write(TextWriter output, DifySpendReport report, string format)
    {
        switch (format)
        {
            case "csv":
                output.WriteLine("app,model,requests,input_tokens,cached_input_tokens,output_tokens,cost_usd");
                foreach (DifySpendRow r in report.Rows)
                {
                    output.WriteLine(string.Join(',', Csv(r.AppId ?? ""), Csv(r.Model), r.Requests, r.InputTokens, r.CachedInputTokens, r.OutputTokens,
                        r.Cost?.ToString(CultureInfo.InvariantCulture) ?? ""));
                }

                break;
            case "json":
                output.WriteLine(JsonSerializer.Serialize(report.Rows.Select(r => new
                {
                    app = r.AppId, model = r.Model, requests = r.Requests, input_tokens = r.InputTokens,
                    cached_input_tokens = r.CachedInputTokens, output_tokens = r.OutputTokens, cost_usd = r.Cost,
                })));
                break;
            default:
                IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
                console.Profile.Width = 160;
                var table = new Table().AddColumns("app", "model", "requests", "input", "cached", "output", "cost (USD)");
                foreach (DifySpendRow r in report.Rows)
                {
                    table.AddRow(Markup.Escape(r.AppId ?? "(untagged)"), Markup.Escape(r.Model), $"{r.Requests}", $"{r.InputTokens}", $"{r.CachedInputTokens}", $"{r.OutputTokens}", Usd(r.Cost));
                }

                console.Write(table);
                var chart = new BarChart().Label("spend per app (USD)").Width(80).UseValueFormatter(v => Usd((decimal)v)); // as the table: 0.000005, not 5.1E-06
                foreach (IGrouping<string?, DifySpendRow> app in report.Rows.GroupBy(r => r.AppId))
                {
                    chart.AddItem(Markup.Escape(app.Key ?? "(untagged)"), (double)app.Sum(r => r.Cost ?? 0m), Color.Default);
                }

                console.Write(chart);
                break;
        }
    }

    private static string Usd(decimal? cost) => cost is { } c ? c.ToString("0.000000", CultureInfo.InvariantCulture) : "(no price)";

    // Quoted when it holds a separator, a quote or a line break; a leading =, +, - or @ (a spreadsheet formula) is made text.
    private static string Csv(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@')
        {
            value = "'" + value;
        }

        return value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : value;
    }

    private sealed class Progress(TextWriter error) : IProgress<int>
    {
        public void Report(int value) => error.WriteLine($"paging stored completions, newest first: {value} read");
    }
}
