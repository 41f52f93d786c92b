namespace MeaiMetadata.Tagging;

/// <summary>Merges the app id and source into caller metadata within a provider's limits (OpenAI's unless told otherwise).</summary>
/// <remarks>
/// Priority when room runs out: <c>dify_app_id</c> always, then the caller's keys oldest first, then <c>dify_source</c>.
/// The reserved keys <c>dify_app_id</c> and <c>dify_source</c> are always the layer's: a caller value under either name is
/// replaced or removed, so request metadata cannot spoof attribution.
/// </remarks>
internal static class MetadataMerge
{
    /// <summary>Merges the app id and source into <paramref name="metadata"/> in place, within <paramref name="rules"/>.</summary>
    /// <param name="metadata">The request's own metadata dictionary (created for this request).</param>
    /// <param name="appId">The app id, already valid under <paramref name="rules"/>.</param>
    /// <param name="source">The source marker, already valid under <paramref name="rules"/>; <see langword="null"/> for none.</param>
    /// <param name="rules">The provider's rules.</param>
    /// <returns>What was changed among the caller's pairs; <see cref="MergeReport.None"/> in the common case.</returns>
    public static MergeReport Apply(IDictionary<string, string> metadata, string appId, string? source, MetadataRules rules)
    {
        var report = MergeReport.None;
        if (metadata.Count != 0)
        {
            report = MakeRoom(metadata, rules);
        }

        metadata[DifyMetadataKeys.AppId] = appId;
        if (source is not null)
        {
            if (metadata.Count < rules.MaxPairs)
            {
                metadata[DifyMetadataKeys.Source] = source;
            }
            else
            {
                report.SourceOmitted = true;
            }
        }

        return report;
    }

    private static MergeReport MakeRoom(IDictionary<string, string> metadata, MetadataRules rules)
    {
        _ = metadata.Remove(DifyMetadataKeys.AppId);
        _ = metadata.Remove(DifyMetadataKeys.Source);

        var report = MergeReport.None;

        // Keys OpenAI would reject are removed; values it would reject are made valid.
        List<string>? invalidKeys = null;
        List<KeyValuePair<string, string>>? fixedValues = null;
        foreach (KeyValuePair<string, string> pair in metadata)
        {
            if (pair.Value is null || !rules.IsValidKey(pair.Key))
            {
                (invalidKeys ??= []).Add(pair.Key);
            }
            else if (rules.NormalizeValue(pair.Value) is var normalized && !string.Equals(normalized, pair.Value, StringComparison.Ordinal))
            {
                (fixedValues ??= []).Add(new(pair.Key, normalized));
            }
        }

        if (invalidKeys is not null)
        {
            foreach (string key in invalidKeys)
            {
                _ = metadata.Remove(key);
            }

            report.Dropped = invalidKeys;
        }

        if (fixedValues is not null)
        {
            var adjusted = new List<string>(fixedValues.Count);
            foreach (KeyValuePair<string, string> pair in fixedValues)
            {
                metadata[pair.Key] = pair.Value;
                adjusted.Add(pair.Key);
            }

            report.Adjusted = adjusted;
        }

        // dify_app_id needs one slot: the newest caller keys give way.
        int excess = metadata.Count - (rules.MaxPairs - 1);
        if (excess > 0)
        {
            string[] keys = [.. metadata.Keys];
            var dropped = report.Dropped ?? new List<string>(excess);
            for (int i = keys.Length - excess; i < keys.Length; i++)
            {
                _ = metadata.Remove(keys[i]);
                dropped.Add(keys[i]);
            }

            report.Dropped = dropped;
        }

        return report;
    }
}

/// <summary>What <see cref="MetadataMerge.Apply(IDictionary{string, string}, string, string?, MetadataRules)"/> changed among the caller's pairs.</summary>
internal struct MergeReport
{
    /// <summary>Nothing changed.</summary>
    public static MergeReport None => default;

    /// <summary>Gets or sets the caller keys removed (invalid, or displaced to stay within 16 pairs).</summary>
    public List<string>? Dropped { get; set; }

    /// <summary>Gets or sets the caller keys whose values were cut to 512 characters or had lone surrogates replaced.</summary>
    public List<string>? Adjusted { get; set; }

    /// <summary>Gets or sets a value indicating whether <c>dify_source</c> was left out for lack of room.</summary>
    public bool SourceOmitted { get; set; }
}
