using System.Globalization;
using MeaiMetadata.Spend;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MeaiMetadata.Demo;

/// <summary>Draws the report's tables and the spend chart with Spectre.Console.</summary>
public static class DemoOutput
{
    /// <summary>The width when the output is not a terminal (redirected, or a test's writer): wide enough for the request table.</summary>
    public const int RedirectedWidth = 200;

    /// <summary>A console over <paramref name="output"/>: the terminal's own capabilities when it is the process's
    /// interactive stdout; otherwise no ANSI codes, no colors and a width of <see cref="RedirectedWidth"/>, so that
    /// the text is the same on every machine.</summary>
    public static IAnsiConsole ConsoleFor(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        bool terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(output),
        });
        if (!terminal)
        {
            console.Profile.Width = RedirectedWidth;
        }

        return console;
    }

    public static string Metadata(WireRecord wire) =>
        wire.Metadata is { Count: > 0 } metadata
            ? string.Join(", ", metadata.OrderBy(p => p.Key == DifyMetadataKeys.AppId ? 0 : p.Key == DifyMetadataKeys.Source ? 1 : 2)
                .ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"))
            : "(none)";

    public static string Store(WireRecord wire) => wire.Store switch { true => "true", false => "false", null => "(unset)" };

    /// <summary>Writes the request table, the per-app table and the outcome counts to <paramref name="output"/>.</summary>
    public static void Write(TextWriter output, DemoReport report) => Write(ConsoleFor(output), report);

    /// <summary>Writes the request table, the per-app table and the outcome counts.</summary>
    public static void Write(IAnsiConsole console, DemoReport report)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(report);
        Table requests = NewTable(("#", false), ("request", false), ("session", false), ("API", false), ("stream", false),
            ("metadata on the wire", false), ("store", false), ("outcome", false));
        foreach (DemoRow r in report.Rows)
        {
            AddRow(requests,
                r.Number,
                r.Step.Title,
                r.Step.App ?? DemoRunner.NoSession,
                r.Wire.Api,
                r.Wire.Stream ? "yes" : "no",
                Metadata(r.Wire),
                Store(r.Wire),
                (r.Wire.StatusCode == 0 ? "no answer" : $"HTTP {r.Wire.StatusCode}") + (r.Outcome is null ? "" : $", {r.Outcome}"));
        }

        console.Write(requests);
        console.WriteLine();
        console.WriteLine("Per app (requests and tagged: the endpoint's record; tokens: the MeaiMetadata meter, dify.app.token.usage):");
        Table apps = NewTable(("app", false), ("requests", true), ("tagged", true), ("tokens in", true), ("tokens out", true));
        foreach (DemoAppSummary a in report.Apps)
        {
            AddRow(apps, a.App, Number(a.Requests), Number(a.Tagged), Number(a.InputTokens), Number(a.OutputTokens));
        }

        console.Write(apps);
        console.WriteLine();
        console.WriteLine("dify.metadata.requests by outcome: " +
            string.Join(", ", report.Outcomes.OrderByDescending(o => o.Value).ThenBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}={o.Value}")));
    }

    /// <summary>Writes the spend per app, two ways side by side, what each side sees, whether they agree, and a bar per app.</summary>
    /// <param name="console">The console.</param>
    /// <param name="spend">The rows of <see cref="DemoSpend.Compare"/>.</param>
    /// <param name="model">The model the demo asked for.</param>
    /// <param name="prices">The price table both sides used.</param>
    public static void WriteSpend(IAnsiConsole console, IReadOnlyList<DemoSpendRow> spend, string model, DifyPriceTable prices)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(spend);
        ArgumentNullException.ThrowIfNull(prices);
        bool reportRead = spend.Any(r => r.Report is not null);
        // Unpriced, both sides count nothing: two zeros agree whatever was spent, so there is nothing to compare.
        bool priced = prices.TryGetPrice(model, out ModelPrice? price);
        console.WriteLine();
        console.WriteLine(priced
            ? string.Create(CultureInfo.InvariantCulture, $"Spend per app in USD, two ways ({model}: {price!.InputPerMillion} input, {price.CachedInputPerMillion} cached input, {price.OutputPerMillion} output per million tokens, the built-in prices):")
            : $"Spend per app in USD, two ways ({model} has no price in the built-in table: neither side counts its requests):");
        Table table = NewTable(("app", false), ("meter: all requests", true), ("meter: stored Chat Completions", true),
            ("report: stored completions", true), ("agree", false));
        foreach (DemoSpendRow r in spend)
        {
            AddRow(table,
                r.App,
                Usd(r.MeterAll),
                Usd(r.MeterStoredChat),
                r.Report is { } report ? $"{Usd(report)} ({r.ReportRequests} listed)" : "(not read)",
                !priced && r.Report is not null ? "no price" : r.Agree switch { true => "yes", false => "NO", null => "-" });
        }

        console.Write(table);
        console.WriteLine("meter  = dify.app.cost, as this process recorded it: every request of a session, both APIs, stored or not;");
        console.WriteLine("         nothing for a request outside any session. \"stored Chat Completions\" keeps the requests the endpoint stored.");
        console.WriteLine(reportRead
            ? "report = DifySpendReport over the endpoint's GET /v1/chat/completions: Chat Completions sent with store=true only;"
            : "report = DifySpendReport over GET /v1/chat/completions: not read with --live (OpenAI lists stored completions after a");
        console.WriteLine(reportRead
            ? "         not the Responses API (it has no list endpoint), not store=false (row 7), not store unset (row 9)."
            : "         delay, and the account's other stored completions would be in it: run meai-spend later, docs/spend.md).");
        if (!priced)
        {
            console.WriteLine($"agree  = not compared: {model} has no price, so both sides are zero whatever it cost; the spend comparison cannot be made.");
            console.WriteLine($"         Price it in your app under DifyMetadata:Prices, or in code with o.Prices[\"{model}\"] (docs/operations.md, Prices).");
        }
        else
        {
            console.WriteLine(!reportRead ? "agree  = not compared."
            : spend.All(r => r.Agree == true) ? "agree  = the two comparable columns, to a billionth of a dollar: they agree for every app."
            : $"agree  = the two comparable columns, to a billionth of a dollar: they DISAGREE for {string.Join(", ", spend.Where(r => r.Agree == false).Select(r => r.App))}.");
        }

        console.WriteLine();

        var chart = new BarChart().Width(80).Label("spend per app, meter, all requests (USD)").LeftAlignLabel()
            .UseValueFormatter((value, _) => value.ToString("0.00000000", CultureInfo.InvariantCulture));
        foreach (DemoSpendRow r in spend)
        {
            chart.AddItem(Markup.Escape(r.App), (double)r.MeterAll, Color.Green);
        }

        console.Write(chart);
    }

    /// <summary>Formats US dollars to 8 decimals (the demo's figures are millionths of a dollar).</summary>
    public static string Usd(decimal value) => value.ToString("0.00000000", CultureInfo.InvariantCulture);

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static Table NewTable(params (string Header, bool Right)[] columns)
    {
        var table = new Table();
        foreach ((string header, bool right) in columns)
        {
            var column = new TableColumn(new Text(header));
            table.AddColumn(right ? column.RightAligned() : column);
        }

        return table;
    }

    // Cells are plain text (Text, not markup): a model's answer may contain [brackets].
    private static void AddRow(Table table, params string[] cells) => table.AddRow(cells.Select(c => (IRenderable)new Text(c)));
}
