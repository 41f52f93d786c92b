namespace MeaiMetadata.Tagging;

/// <summary>One provider's rules for request metadata: how many pairs, which keys, what values.</summary>
/// <param name="maxPairs">The most pairs a request may carry.</param>
/// <param name="isValidKey">Whether the provider accepts a key as it is.</param>
/// <param name="normalizeValue">Makes a value acceptable; returns the same instance when it already is.</param>
internal sealed class MetadataRules(int maxPairs, Func<string, bool> isValidKey, Func<string, string> normalizeValue)
{
    /// <summary>OpenAI: 16 pairs, keys of 1 to 64 characters, values of at most 512, valid UTF-16.</summary>
    public static MetadataRules OpenAI { get; } = new(
        MetadataLimits.MaxPairs,
        key => key.Length is > 0 and <= MetadataLimits.MaxKeyLength && !MetadataText.NeedsNormalizing(key, MetadataLimits.MaxKeyLength),
        value => MetadataText.Normalize(value, MetadataLimits.MaxValueLength));

    public int MaxPairs { get; } = maxPairs;

    public bool IsValidKey(string key) => isValidKey(key);

    public string NormalizeValue(string value) => normalizeValue(value);

    /// <summary>Merges the request's tags into <paramref name="metadata"/> under these rules and logs what the caller lost.</summary>
    /// <param name="metadata">The request's own metadata.</param>
    /// <param name="context">The mapping context.</param>
    /// <param name="target">What the metadata is called, for the log.</param>
    public void Merge(IDictionary<string, string> metadata, in Providers.DifyMappingContext context, string target)
    {
        ArgumentNullException.ThrowIfNull(metadata);

        string? source = context.Source is null ? null : NormalizeValue(context.Source);
        MergeReport report = MetadataMerge.Apply(metadata, NormalizeValue(context.AppId), source, this);
        Log.MergeReported(context.Logger, report, target);
    }
}
