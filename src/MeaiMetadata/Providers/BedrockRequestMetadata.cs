using System.Text;
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

    private static readonly MetadataRules s_rules = new(MaxPairs, IsValidKey, NormalizeValue);

    /// <summary>Turns any text into a valid value, as the reference does.</summary>
    /// <param name="value">The text.</param>
    /// <returns>At most 256 characters, case kept, every character outside the allowed set (non-ASCII letters and
    /// non-ASCII whitespace included) replaced by <c>_</c>, one <c>_</c> per Unicode scalar.</returns>
    public static string NormalizeValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);

        if (value.Length <= MaxValueLength && IsAllowed(value))
        {
            return value;
        }

        var builder = new StringBuilder(Math.Min(value.Length, MaxValueLength));
        foreach (Rune rune in value.EnumerateRunes())
        {
            if (builder.Length == MaxValueLength)
            {
                break;
            }

            builder.Append(rune.IsAscii && IsAllowed((char)rune.Value) ? (char)rune.Value : '_');
        }

        return builder.ToString();
    }

    /// <summary>Returns whether Bedrock accepts <paramref name="key"/> as a key.</summary>
    /// <param name="key">The key.</param>
    /// <returns><see langword="true"/> for 1 to 256 allowed characters.</returns>
    public static bool IsValidKey(string key) => key is { Length: > 0 and <= MaxKeyLength } && IsAllowed(key);

    /// <summary>Merges the request's tags into <paramref name="metadata"/>: <c>dify_app_id</c> always, the caller's pairs
    /// oldest first up to 16, then <c>dify_source</c>; invalid caller keys are removed and values normalized, with a warning.</summary>
    /// <param name="metadata">The request's own metadata (created for this request).</param>
    /// <param name="context">The mapping context.</param>
    public static void Merge(IDictionary<string, string> metadata, in DifyMappingContext context)
    {
        ArgumentNullException.ThrowIfNull(metadata);

        string? source = context.Source is null ? null : NormalizeValue(context.Source);
        MergeReport report = MetadataMerge.Apply(metadata, NormalizeValue(context.AppId), source, s_rules);
        Log.MergeReported(context.Logger, report, "bedrock requestMetadata");
    }

    private static bool IsAllowed(string text)
    {
        foreach (char c in text)
        {
            if (!IsAllowed(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsAllowed(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or
            ' ' or '\t' or '\n' or '\v' or '\f' or '\r' or ':' or '_' or '@' or '$' or '#' or '=' or '/' or '+' or ',' or '-' or '.';
}
