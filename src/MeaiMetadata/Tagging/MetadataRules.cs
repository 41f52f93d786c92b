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

    /// <summary>Merges the request's tags into <paramref name="metadata"/> under these rules and logs what the caller lost;
    /// on an untagged request, removes the caller's reserved keys instead.</summary>
    /// <param name="metadata">The request's own metadata.</param>
    /// <param name="decision">The request's decision.</param>
    /// <param name="target">What the metadata is called, for the log.</param>
    /// <returns><see langword="true"/> when the tags were attached.</returns>
    public bool Merge(IDictionary<string, string> metadata, DifyRequestDecision decision, string target)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(decision);
        if (!decision.IsTagged)
        {
            decision.RemoveReservedKeys(metadata);
            return false;
        }

        string? source = decision.Source is null ? null : NormalizeValue(decision.Source);
        MergeReport report = MetadataMerge.Apply(metadata, NormalizeValue(decision.AppId), source, this);
        Log.MergeReported(decision.Logger, report, target);
        return true;
    }
}
