using System.Globalization;
using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Spend;

/// <summary>Prices per model, and the cost of a response from its usage: the built-in prices of OpenAI's chat models,
/// overridden and extended by <see cref="DifyMetadataOptions.Prices"/>, with <see cref="DifyMetadataOptions.ModelAliases"/>
/// mapping names such as Azure OpenAI deployments to the model they run.</summary>
/// <remarks>
/// A model id resolves in this order: its alias, if any, then the id itself, then, for a dated snapshot
/// (<c>gpt-4o-mini-2024-07-18</c>, <c>gpt-4-0613</c>), its family (<c>gpt-4o-mini</c>, <c>gpt-4</c>). Ids compare
/// case-insensitively. This type is immutable and thread-safe.
/// </remarks>
public sealed partial class DifyPriceTable
{
    private const decimal Million = 1_000_000m;

    private readonly FrozenDictionary<string, Price> _prices;
    private readonly FrozenDictionary<string, string> _aliases;

    private DifyPriceTable(FrozenDictionary<string, Price> prices, FrozenDictionary<string, string> aliases) => (_prices, _aliases) = (prices, aliases);

    /// <summary>Gets the built-in prices alone.</summary>
    public static DifyPriceTable BuiltIn { get; } = new(
        BuiltInPrices.Entries.ToFrozenDictionary(e => e.Model, e => new Price(e.Input, e.CachedInput ?? e.Input, e.Output), StringComparer.OrdinalIgnoreCase),
        FrozenDictionary<string, string>.Empty);

    /// <summary>Gets where the built-in prices come from: the list, its commit and the day they were taken.</summary>
    public static string BuiltInSource => BuiltInPrices.Source;

    /// <summary>Gets the ids of the models priced in this table (not the aliases, nor the snapshots that resolve to a family).</summary>
    internal IEnumerable<string> Models => _prices.Keys;

    /// <summary>Returns the built-in prices with <paramref name="prices"/> on top and <paramref name="modelAliases"/>.</summary>
    public static DifyPriceTable Create(IEnumerable<KeyValuePair<string, ModelPrice>>? prices, IEnumerable<KeyValuePair<string, string>>? modelAliases = null)
    {
        if (Validate(prices, modelAliases) is { } error)
        {
            throw new ArgumentException(error, nameof(prices));
        }

        if ((prices is null || !prices.Any()) && (modelAliases is null || !modelAliases.Any()))
        {
            return BuiltIn;
        }

        var merged = new Dictionary<string, Price>(BuiltIn._prices, StringComparer.OrdinalIgnoreCase);
        foreach ((string model, ModelPrice price) in prices ?? [])
        {
            merged[model] = new Price(price.InputPerMillion!.Value, price.CachedInputPerMillion ?? price.InputPerMillion.Value, price.OutputPerMillion!.Value);
        }

        return new DifyPriceTable(
            merged.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            (modelAliases ?? []).ToFrozenDictionary(a => a.Key, a => a.Value, StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>Returns why <paramref name="prices"/> or <paramref name="modelAliases"/> are invalid, naming the model and the
    /// field, or <see langword="null"/> when they are valid.</summary>
    public static string? Validate(IEnumerable<KeyValuePair<string, ModelPrice>>? prices, IEnumerable<KeyValuePair<string, string>>? modelAliases = null)
    {
        const string Prices = $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.Prices)}";
        foreach ((string model, ModelPrice? price) in prices ?? [])
        {
            string? error = string.IsNullOrWhiteSpace(model) ? $"{Prices} has a price without a model id."
                : price is null ? $"{Prices}[\"{model}\"] is null."
                : Field(model, nameof(ModelPrice.InputPerMillion), price.InputPerMillion, required: true)
                    ?? Field(model, nameof(ModelPrice.CachedInputPerMillion), price.CachedInputPerMillion, required: false)
                    ?? Field(model, nameof(ModelPrice.OutputPerMillion), price.OutputPerMillion, required: true);
            if (error is not null)
            {
                return error;
            }
        }

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach ((string name, string? model) in modelAliases ?? [])
        {
            if (string.IsNullOrWhiteSpace(name) || string.IsNullOrWhiteSpace(model))
            {
                return $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.ModelAliases)}[\"{name}\"] must map a name to a model id; it maps \"{name}\" to \"{model}\".";
            }

            if (!names.Add(name))
            {
                return $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.ModelAliases)} names \"{name}\" twice (names compare without regard to case).";
            }
        }

        return null;

        static string? Field(string model, string field, decimal? value, bool required) =>
            value is null ? (required ? $"{Prices}[\"{model}\"].{field} is missing (US dollars per million tokens)." : null)
            : value < 0 ? $"{Prices}[\"{model}\"].{field} must be 0 or more; it is {value}."
            : value > MaxPerMillion ? $"{Prices}[\"{model}\"].{field} must be at most {MaxPerMillion} (US dollars per million tokens); it is {value}."
            : null;
    }

    /// <summary>Returns the price of <paramref name="model"/>, resolved through its alias and its family.</summary>
    public bool TryGetPrice(string? model, [NotNullWhen(true)] out ModelPrice? price)
    {
        price = Find(model) is { } found ? new() { InputPerMillion = found.Input, CachedInputPerMillion = found.CachedInput, OutputPerMillion = found.Output } : null;
        return price is not null;
    }

    /// <summary>Returns the cost in US dollars of a response of <paramref name="model"/>, or <see langword="null"/> when the model is not priced.</summary>
    public decimal? GetCost(string? model, long inputTokens, long cachedInputTokens, long outputTokens) =>
        Find(model) is { } price ? price.Cost(inputTokens, cachedInputTokens, outputTokens) : null;

    /// <summary>Returns the cost in US dollars of a response of <paramref name="model"/> with <paramref name="usage"/>, or
    /// <see langword="null"/> when the model is not priced.</summary>
    public decimal? GetCost(string? model, UsageDetails usage)
    {
        ArgumentNullException.ThrowIfNull(usage);
        return GetCost(model, usage.InputTokenCount ?? 0, usage.CachedInputTokenCount ?? 0, usage.OutputTokenCount ?? 0);
    }

    private Price? Find(string? model)
    {
        model = string.IsNullOrEmpty(model) ? null : _aliases.GetValueOrDefault(model, model);
        return model is not null && (_prices.TryGetValue(model, out Price price) || (Family(model) is { } family && _prices.TryGetValue(family, out price)))
            ? price : null;
    }

    /// <summary>The highest price accepted, in US dollars per million tokens: far above any model's, low enough that no token
    /// count can overflow the cost's arithmetic.</summary>
    internal const decimal MaxPerMillion = 1_000_000m;

    /// <summary>The family of a dated snapshot: the id without <c>-YYYY-MM-DD</c> or <c>-MMDD</c> (a real month and day, so
    /// a deployment name such as <c>gpt-4o-1234</c> is not taken for a snapshot), else <see langword="null"/>.</summary>
    internal static string? Family(string model) =>
        SnapshotSuffix().Match(model) is { Success: true, Index: > 0 } suffix && int.Parse(suffix.Groups["m"].ValueSpan, CultureInfo.InvariantCulture) is >= 1 and <= 12
            && int.Parse(suffix.Groups["d"].ValueSpan, CultureInfo.InvariantCulture) is >= 1 and <= 31 ? model[..suffix.Index] : null;

    [GeneratedRegex(@"-(?:[0-9]{4}-(?<m>[0-9]{2})-(?<d>[0-9]{2})|(?<m>[0-9]{2})(?<d>[0-9]{2}))\z", RegexOptions.CultureInvariant)]
    private static partial Regex SnapshotSuffix();

    private readonly record struct Price(decimal Input, decimal CachedInput, decimal Output)
    {
        public decimal Cost(long inputTokens, long cachedInputTokens, long outputTokens)
        {
            long cached = Math.Clamp(cachedInputTokens, 0, Math.Max(inputTokens, 0));
            long uncached = Math.Max(inputTokens, 0) - cached;
            return ((uncached * Input) + (cached * CachedInput) + (Math.Max(outputTokens, 0) * Output)) / Million;
        }
    }
}
