using MeaiMetadata.Spend;
using Microsoft.Extensions.Configuration;

namespace MeaiMetadata.SpendTool;

/// <summary>The prices of a run: the library's built-in prices, with those of a prices file (<c>--prices</c>) or of the app's
/// configuration (<c>--config</c>) on top, bound as the library binds <c>DifyMetadata:Prices</c> and
/// <c>DifyMetadata:ModelAliases</c> and validated by <see cref="DifyPriceTable.Validate"/>.</summary>
/// <param name="Table">The price table.</param>
/// <param name="Description">Where the prices come from, for the run's stderr.</param>
internal sealed record SpendPrices(DifyPriceTable Table, string Description)
{
    /// <summary>The library's configuration section.</summary>
    public const string Section = "DifyMetadata";

    private static readonly string[] s_priceFields = [nameof(ModelPrice.InputPerMillion), nameof(ModelPrice.CachedInputPerMillion), nameof(ModelPrice.OutputPerMillion)];

    /// <summary>Returns the prices <paramref name="arguments"/> ask for, or <see langword="null"/> and why they cannot be used
    /// (naming the file, the model and the field).</summary>
    public static SpendPrices? Load(SpendArguments arguments, out string? error)
    {
        error = null;
        string builtIn = $"the built-in prices ({DifyPriceTable.BuiltInSource})";
        if (arguments.PricesFile is null && arguments.ConfigFile is null)
        {
            return new SpendPrices(DifyPriceTable.BuiltIn, builtIn);
        }

        bool fromConfig = arguments.ConfigFile is not null;
        string path = arguments.ConfigFile ?? arguments.PricesFile!;
        string what = $"{(fromConfig ? "--config" : "--prices")} {path}";
        IConfigurationRoot root;
        try
        {
            root = new ConfigurationBuilder().AddJsonFile(Path.GetFullPath(path), optional: false, reloadOnChange: false).Build();
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or FormatException or UnauthorizedAccessException or ArgumentException)
        {
            // Not found, not readable, not JSON (the parser's message, with its line, is the innermost exception), a duplicate key.
            var messages = new List<string>();
            for (Exception? e = ex; e is not null; e = e.InnerException)
            {
                messages.Add(e.Message);
            }

            error = $"{what}: {string.Join(" ", messages)}";
            return null;
        }

        // A prices file has the two keys at its root, or is a whole appsettings file; --config reads the app's section.
        IConfiguration section = !fromConfig && (root.GetSection("Prices").Exists() || root.GetSection("ModelAliases").Exists())
            ? root
            : root.GetSection(Section);
        IConfigurationSection pricesSection = section.GetSection("Prices"), aliasesSection = section.GetSection("ModelAliases");
        if (!pricesSection.Exists() && !aliasesSection.Exists())
        {
            if (fromConfig)
            {
                return new SpendPrices(DifyPriceTable.BuiltIn, $"{builtIn}: {path} has no {Section}:Prices or {Section}:ModelAliases, so the app's meter uses these too");
            }

            error = $"{what}: no \"Prices\" or \"ModelAliases\", neither at the root nor under \"{Section}\".";
            return null;
        }

        foreach (IConfigurationSection map in new[] { pricesSection, aliasesSection })
        {
            if (!string.IsNullOrEmpty(map.Value))
            {
                error = $"{what}: {map.Path} is \"{map.Value}\"; it must be an object keyed by model id.";
                return null;
            }
        }

        var prices = new Dictionary<string, ModelPrice>(StringComparer.OrdinalIgnoreCase);
        foreach (IConfigurationSection model in pricesSection.GetChildren())
        {
            IConfigurationSection[] fields = [.. model.GetChildren()];
            if (fields.Length == 0 && !string.IsNullOrEmpty(model.Value))
            {
                error = $"{what}: {model.Path} is \"{model.Value}\"; a price is an object: {{ \"InputPerMillion\": .., \"CachedInputPerMillion\": .., \"OutputPerMillion\": .. }} (US dollars per million tokens).";
                return null;
            }

            try
            {
                // An empty object binds to null: a price without its fields, which Validate names.
                prices[model.Key] = model.Get<ModelPrice>(o => o.ErrorOnUnknownConfiguration = true) ?? new ModelPrice();
            }
            catch (InvalidOperationException ex)
            {
                // A value that is not a number (the message names its path), or a field that is not a price's.
                string colon = fields.Any(f => !s_priceFields.Contains(f.Key, StringComparer.OrdinalIgnoreCase) && f.GetChildren().Any())
                    ? " (a model id with ':' cannot be a configuration key: ':' separates sections)"
                    : "";
                error = $"{what}: {model.Path}: {ex.Message}{colon}";
                return null;
            }
        }

        var aliases = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (IConfigurationSection alias in aliasesSection.GetChildren())
        {
            if (alias.GetChildren().Any())
            {
                error = $"{what}: {alias.Path} must be a model id (text), not an object.";
                return null;
            }

            aliases[alias.Key] = alias.Value ?? "";
        }

        if (DifyPriceTable.Validate(prices, aliases) is { } invalid)
        {
            error = $"{what}: {invalid}";
            return null;
        }

        try
        {
            return new SpendPrices(
                DifyPriceTable.Create(prices, aliases),
                $"{prices.Count} price(s) and {aliases.Count} alias(es) from {path} over {builtIn}");
        }
        catch (ArgumentException ex)
        {
            error = $"{what}: {ex.Message}";
            return null;
        }
    }
}
