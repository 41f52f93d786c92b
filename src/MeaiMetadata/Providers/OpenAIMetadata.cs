namespace MeaiMetadata.Providers;

/// <summary>What both OpenAI APIs do with their <c>metadata</c> field: the same limits, merge and reserved keys.</summary>
internal static class OpenAIMetadata
{
    /// <summary>Merges the tags into <paramref name="metadata"/> when <paramref name="mapping"/>'s rule allows them with the
    /// request's final <paramref name="store"/> flag; otherwise removes the caller's reserved keys.</summary>
    /// <returns><see langword="true"/> when the tags were attached.</returns>
    public static bool Apply(DifyProviderMapping mapping, IDictionary<string, string> metadata, bool? store, DifyRequestDecision decision)
    {
        if (!mapping.AttachesMetadata(store))
        {
            decision.RemoveReservedKeys(metadata);
            return false;
        }

        decision.MergeOpenAI(metadata, mapping.Name);
        return true;
    }
}
