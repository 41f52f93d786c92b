namespace MeaiMetadata.Providers;

/// <summary>What both OpenAI APIs do with their <c>metadata</c> field: the same limits, merge and reserved keys.</summary>
internal static class OpenAIMetadata
{
    /// <summary>Merges the tags into <paramref name="metadata"/> when <paramref name="mapping"/>'s rule allows them with the
    /// request's final <paramref name="store"/> flag (the caller's raw options may set it after the decision); otherwise, and
    /// always for a decision without an app (after a failed decision), removes the caller's reserved keys.</summary>
    /// <returns><see langword="true"/> when the tags were attached.</returns>
    public static bool Apply(DifyProviderMapping mapping, IDictionary<string, string> metadata, bool? store, DifyRequestDecision decision)
    {
        if (decision.AppId.Length == 0 || !mapping.AttachesMetadata(store))
        {
            decision.RemoveReservedKeys(metadata);
            return false;
        }

        decision.MergeOpenAI(metadata, mapping.Name);
        return true;
    }
}
