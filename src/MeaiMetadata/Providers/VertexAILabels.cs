using MeaiMetadata.Tagging;

namespace MeaiMetadata.Providers;

/// <summary>Google Vertex AI / Gemini <c>labels</c> (on <c>GenerateContentConfig</c>): the reference's rules, for a <see cref="DifyProviderMapping"/>.</summary>
/// <remarks>
/// Google allows at most 64 labels; keys of 1 to 63 characters that start with a lowercase letter, values of 0 to 63
/// characters, both only from <c>[a-z0-9_-]</c> (international letters too, which the reference does not use).
/// </remarks>
public static class VertexAILabels
{
    /// <summary>The most labels a request may carry.</summary>
    public const int MaxLabels = 64;

    /// <summary>The longest key or value.</summary>
    public const int MaxLength = 63;

    private static readonly Func<char, bool> s_isAllowed = IsAllowed;
    private static readonly MetadataRules s_rules = new(MaxLabels, IsValidKey, NormalizeValue);

    /// <summary>Turns any text into a valid label value, as the reference does.</summary>
    /// <param name="value">The text.</param>
    /// <returns>At most 63 characters: lower-cased, and every character outside <c>[a-z0-9_-]</c> replaced by <c>_</c>
    /// (one <c>_</c> per Unicode scalar, so a surrogate pair or any non-ASCII letter becomes one <c>_</c>).</returns>
    public static string NormalizeValue(string value) => MetadataText.ReplaceDisallowed(value, MaxLength, s_isAllowed, lowerCase: true);

    /// <summary>Returns whether Google accepts <paramref name="key"/> as a label key.</summary>
    /// <param name="key">The key.</param>
    /// <returns><see langword="true"/> for 1 to 63 characters of <c>[a-z0-9_-]</c> starting with <c>[a-z]</c>.</returns>
    public static bool IsValidKey(string key) =>
        key is { Length: > 0 and <= MaxLength } && key[0] is >= 'a' and <= 'z' && MetadataText.AllAllowed(key, s_isAllowed);

    /// <summary>Merges the request's tags into <paramref name="labels"/>: <c>dify_app_id</c> always, the caller's labels
    /// oldest first up to 64, then <c>dify_source</c>; invalid caller keys are removed and values normalized, with a warning.</summary>
    /// <param name="labels">The request's own labels (created for this request).</param>
    /// <param name="decision">The request's decision; when it is not tagged, only the caller's <c>dify_app_id</c>/<c>dify_source</c> are removed.</param>
    /// <returns><see langword="true"/> when the tags were attached.</returns>
    public static bool Merge(IDictionary<string, string> labels, DifyRequestDecision decision) => s_rules.Merge(labels, decision, "vertex-ai labels");

    private static bool IsAllowed(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '-';
}
