namespace MeaiMetadata.Spend;

/// <summary>The price of one model in US dollars per million tokens, as bound from configuration
/// (<c>"Prices": { "gpt-4o-mini": { "InputPerMillion": 0.15, "CachedInputPerMillion": 0.075, "OutputPerMillion": 0.6 } }</c>).</summary>
public sealed class ModelPrice
{
    /// <summary>Gets or sets the price of a million input tokens that were not read from the prompt cache. Required.</summary>
    public decimal? InputPerMillion { get; set; }

    /// <summary>Gets or sets the price of a million input tokens read from the prompt cache.</summary>
    /// <value>The default value is <see langword="null"/>: cached input tokens cost <see cref="InputPerMillion"/>.</value>
    public decimal? CachedInputPerMillion { get; set; }

    /// <summary>Gets or sets the price of a million output tokens, reasoning tokens included. Required.</summary>
    public decimal? OutputPerMillion { get; set; }

    /// <summary>Returns a copy whose changes do not reach this instance.</summary>
    internal ModelPrice Clone() => (ModelPrice)MemberwiseClone();
}
