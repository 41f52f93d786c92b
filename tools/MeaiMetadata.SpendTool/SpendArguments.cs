using System.Globalization;

namespace MeaiMetadata.SpendTool;

/// <summary>The tool's command line: <c>--since DATE [--until DATE] [--app ID] [--format table|csv|json] [--base-url URL]
/// [--prices FILE | --config FILE]</c>.</summary>
internal sealed class SpendArguments
{
    public const string Usage = """
        Usage: meai-spend --since 2026-11-01 [--until 2026-11-30] [--app ID] [--format table|csv|json] [--base-url URL]
                          [--prices prices.json | --config appsettings.json]
          --since DATE     first day (UTC) of the range, yyyy-MM-dd (required)
          --until DATE     last day (UTC) of the range, inclusive; default: today
          --app ID         only this dify_app_id (cut to 512 characters, as the library sends it)
          --format F       table (default), csv or json
          --base-url URL   the OpenAI-compatible endpoint, with its /v1: https://api.openai.com/v1/ (the default)
          --prices FILE    prices as JSON: "Prices" and "ModelAliases" at the root, or a whole appsettings file
          --config FILE    the app's appsettings.json: prices from its "DifyMetadata" section, as the app's meter reads them
          --help           this text
        Without --prices or --config, models are priced with the library's built-in prices.
        The API key is read from OPENAI_API_KEY.
        Exit codes: 0 done (also when nothing is stored in the range), 1 the endpoint failed,
        2 a bad argument, price, key or base URL.
        """;

    private static readonly string[] s_options = ["--since", "--until", "--app", "--format", "--base-url", "--prices", "--config"];

    public DateTimeOffset Since { get; private init; }

    /// <summary>Gets the end of the range, exclusive (the midnight after the <c>--until</c> day), or <see langword="null"/>.</summary>
    public DateTimeOffset? Until { get; private init; }

    /// <summary>Gets the app id as given.</summary>
    public string? App { get; private init; }

    public string Format { get; private init; } = "table";

    public Uri? BaseUrl { get; private init; }

    /// <summary>Gets the prices file (<c>--prices</c>).</summary>
    public string? PricesFile { get; private init; }

    /// <summary>Gets the app's configuration file (<c>--config</c>).</summary>
    public string? ConfigFile { get; private init; }

    public bool Help { get; private init; }

    /// <summary>Parses <paramref name="args"/>; on failure returns <see langword="null"/> and says what was wrong.</summary>
    public static SpendArguments? Parse(string[] args, out string? error)
    {
        if (args.Any(a => a is "--help" or "-h"))
        {
            error = null;
            return new SpendArguments { Help = true };
        }

        DateTimeOffset? since = null, until = null;
        string? app = null, format = "table", prices = null, config = null;
        Uri? baseUrl = null;
        var given = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            if (!s_options.Contains(name))
            {
                error = $"unknown option '{name}'.";
                return null;
            }

            if (!given.Add(name))
            {
                error = $"{name} is given twice; give it once.";
                return null;
            }

            if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                error = $"{name} needs a value.";
                return null;
            }

            string value = args[++i];
            switch (name)
            {
                case "--since" or "--until":
                    if (!DateTime.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out DateTime day))
                    {
                        error = $"{name} '{value}' is not a date (yyyy-MM-dd).";
                        return null;
                    }

                    var start = new DateTimeOffset(day, TimeSpan.Zero);
                    if (name == "--since")
                    {
                        since = start;
                    }
                    else
                    {
                        until = start.AddDays(1); // inclusive day: the range ends at the next midnight
                    }

                    break;
                case "--app" when value.Length == 0:
                    error = "--app needs an app id (it is empty).";
                    return null;
                case "--app":
                    app = value;
                    break;
                case "--format":
                    if (value is not ("table" or "csv" or "json"))
                    {
                        error = $"--format '{value}' is not one of table, csv, json.";
                        return null;
                    }

                    format = value;
                    break;
                case "--prices" or "--config" when value.Length == 0:
                    error = $"{name} needs a file (it is empty).";
                    return null;
                case "--prices":
                    prices = value;
                    break;
                case "--config":
                    config = value;
                    break;
                default:
                    if (!Uri.TryCreate(value, UriKind.Absolute, out baseUrl) || baseUrl.Scheme is not ("http" or "https"))
                    {
                        error = $"--base-url '{value}' is not an absolute http(s) URL.";
                        return null;
                    }

                    break;
            }
        }

        if (since is null)
        {
            error = "--since is required (yyyy-MM-dd).";
            return null;
        }

        if (until <= since)
        {
            error = "--until is before --since.";
            return null;
        }

        if (prices is not null && config is not null)
        {
            error = "--prices and --config both give prices; give one of them.";
            return null;
        }

        error = null;
        return new SpendArguments
        {
            Since = since.Value, Until = until, App = app, Format = format, BaseUrl = baseUrl, PricesFile = prices, ConfigFile = config,
        };
    }
}
