using MeaiMetadata.Tagging;

namespace MeaiMetadata.Providers;

/// <summary>Amazon Bedrock Converse <c>requestMetadata</c>: the reference's rules, for a <see cref="DifyProviderMapping"/>
/// (docs/providers.md). At most 16 pairs; keys of 1 to 256 and values of at most 256 characters of
/// <c>[a-zA-Z0-9\s:_@$#=/+,-.]</c>.</summary>
public static class BedrockRequestMetadata
{
    /// <summary>The most pairs a request may carry.</summary>
    public const int MaxPairs = 16;

    /// <summary>The longest key.</summary>
    public const int MaxKeyLength = 256;

    /// <summary>The longest value.</summary>
    public const int MaxValueLength = 256;

    private static readonly MetadataRules s_rules = new(MaxPairs, IsValidKey, NormalizeValue);

    /// <summary>Turns any text into a valid value: case kept, each character outside the allowed set replaced by <c>_</c>
    /// (one per Unicode scalar), cut to 256.</summary>
    public static string NormalizeValue(string value) => WireMetadata.ReplaceDisallowed(value, MaxValueLength, IsAllowed, lowerCase: false);

    /// <summary>Returns whether Bedrock accepts <paramref name="key"/> as a key.</summary>
    public static bool IsValidKey(string key) => key is { Length: > 0 and <= MaxKeyLength } && key.All(IsAllowed);

    /// <summary>Merges the request's tags into <paramref name="metadata"/> within Bedrock's rules, or removes reserved keys
    /// when the request is not tagged.</summary>
    public static bool Merge(IDictionary<string, string> metadata, DifyRequestDecision decision) =>
        (decision ?? throw new ArgumentNullException(nameof(decision))).Merge(metadata, decision.IsTagged, s_rules, "bedrock requestMetadata");

    private static bool IsAllowed(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r' or ':' or '_' or '@' or '$' or '#' or '=' or '/' or '+' or ',' or '-' or '.';
}
