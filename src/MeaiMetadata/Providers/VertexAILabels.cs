using MeaiMetadata.Tagging;

namespace MeaiMetadata.Providers;

/// <summary>Google Vertex AI / Gemini <c>labels</c>: the reference's rules, for a <see cref="DifyProviderMapping"/>
/// (docs/providers.md). At most 64 labels; keys of 1 to 63 characters of <c>[a-z0-9_-]</c> starting with a letter;
/// values of at most 63 such characters.</summary>
public static class VertexAILabels
{
    /// <summary>The most labels a request may carry.</summary>
    public const int MaxLabels = 64;

    /// <summary>The longest key or value.</summary>
    public const int MaxLength = 63;

    private static readonly MetadataRules s_rules = new(MaxLabels, IsValidKey, NormalizeValue);

    /// <summary>Turns any text into a valid label value: lower-cased, each character outside <c>[a-z0-9_-]</c> replaced by
    /// <c>_</c> (one per Unicode scalar), cut to 63.</summary>
    public static string NormalizeValue(string value) => WireMetadata.ReplaceDisallowed(value, MaxLength, IsAllowed, lowerCase: true);

    /// <summary>Returns whether Google accepts <paramref name="key"/> as a label key.</summary>
    public static bool IsValidKey(string key) => key is { Length: > 0 and <= MaxLength } && key[0] is >= 'a' and <= 'z' && key.All(IsAllowed);

    /// <summary>Merges the request's tags into <paramref name="labels"/> within Google's rules, or removes reserved keys
    /// when the request is not tagged.</summary>
    public static bool Merge(IDictionary<string, string> labels, DifyRequestDecision decision) =>
        (decision ?? throw new ArgumentNullException(nameof(decision))).Merge(labels, decision.IsTagged, s_rules, "vertex-ai labels");

    private static bool IsAllowed(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '-';
}
