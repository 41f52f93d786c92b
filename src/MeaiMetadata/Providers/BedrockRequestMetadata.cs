using MeaiMetadata.Tagging;

namespace MeaiMetadata.Providers;

/// <summary>Amazon Bedrock Converse <c>requestMetadata</c>: the reference's rules, for a <see cref="DifyProviderMapping"/>.</summary>
/// <remarks>
/// Bedrock allows at most 16 pairs; keys of 1 to 256 and values of 0 to 256 characters from <c>[a-zA-Z0-9 :_@$#=/+,-.]</c>
/// and ASCII whitespace.
/// </remarks>
public static class BedrockRequestMetadata
{
    /// <summary>The most pairs a request may carry.</summary>
    public const int MaxPairs = 16;

    /// <summary>The longest key.</summary>
    public const int MaxKeyLength = 256;

    /// <summary>The longest value.</summary>
    public const int MaxValueLength = 256;

    private static readonly Func<char, bool> s_isAllowed = IsAllowed;
    private static readonly MetadataRules s_rules = new(MaxPairs, IsValidKey, NormalizeValue);

    /// <summary>Turns any text into a valid value, as the reference does.</summary>
    /// <param name="value">The text.</param>
    /// <returns>At most 256 characters, case kept, every character outside the allowed set (non-ASCII letters and
    /// non-ASCII whitespace included) replaced by <c>_</c>, one <c>_</c> per Unicode scalar.</returns>
    public static string NormalizeValue(string value) => MetadataText.ReplaceDisallowed(value, MaxValueLength, s_isAllowed, lowerCase: false);

    /// <summary>Returns whether Bedrock accepts <paramref name="key"/> as a key.</summary>
    /// <param name="key">The key.</param>
    /// <returns><see langword="true"/> for 1 to 256 allowed characters.</returns>
    public static bool IsValidKey(string key) => key is { Length: > 0 and <= MaxKeyLength } && MetadataText.AllAllowed(key, s_isAllowed);

    /// <summary>Merges the request's tags into <paramref name="metadata"/>: <c>dify_app_id</c> always, the caller's pairs
    /// oldest first up to 16, then <c>dify_source</c>; invalid caller keys are removed and values normalized, with a warning.</summary>
    /// <param name="metadata">The request's own metadata (created for this request).</param>
    /// <param name="decision">The request's decision; when it is not tagged, only the caller's <c>dify_app_id</c>/<c>dify_source</c> are removed.</param>
    /// <returns><see langword="true"/> when the tags were attached.</returns>
    public static bool Merge(IDictionary<string, string> metadata, DifyRequestDecision decision) => s_rules.Merge(metadata, decision, "bedrock requestMetadata");

    private static bool IsAllowed(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or
            ' ' or '\t' or '\n' or '\v' or '\f' or '\r' or ':' or '_' or '@' or '$' or '#' or '=' or '/' or '+' or ',' or '-' or '.';
}
