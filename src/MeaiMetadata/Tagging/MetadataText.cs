using System.Text;

namespace MeaiMetadata.Tagging;

/// <summary>Makes text safe to send as a metadata value.</summary>
internal static class MetadataText
{
    private const char ReplacementChar = '\uFFFD';

    /// <summary>
    /// Returns <paramref name="value"/> with every lone UTF-16 surrogate replaced by U+FFFD and cut to at most
    /// <paramref name="maxLength"/> UTF-16 characters without splitting a surrogate pair. Everything else (case,
    /// whitespace, punctuation, quotes, non-ASCII) is kept. Returns the same instance when nothing changes.
    /// </summary>
    public static string Normalize(string value, int maxLength)
    {
        ReadOnlySpan<char> span = value;
        int firstSurrogate = span.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (firstSurrogate < 0)
        {
            return span.Length <= maxLength ? value : value[..maxLength];
        }

        if (span.Length <= maxLength && PairsAreWellFormed(span[firstSurrogate..]))
        {
            return value;
        }

        return NormalizeSurrogates(span, maxLength);
    }

    /// <summary>Returns <see langword="true"/> when <see cref="Normalize"/> would change <paramref name="value"/>.</summary>
    public static bool NeedsNormalizing(string value, int maxLength) =>
        !ReferenceEquals(Normalize(value, maxLength), value);

    private static bool PairsAreWellFormed(ReadOnlySpan<char> span)
    {
        for (int i = 0; i < span.Length; i++)
        {
            if (char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(span[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static string NormalizeSurrogates(ReadOnlySpan<char> span, int maxLength)
    {
        // Replacing a lone surrogate keeps the length, so the result is a prefix of the replaced input.
        int length = Math.Min(span.Length, maxLength);
        char[] buffer = new char[length];
        int written = 0;
        for (int i = 0; i < span.Length && written < length; i++)
        {
            char c = span[i];
            if (char.IsHighSurrogate(c) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                if (written + 2 > length)
                {
                    break; // the pair does not fit: cut before it
                }

                buffer[written++] = c;
                buffer[written++] = span[++i];
            }
            else
            {
                buffer[written++] = char.IsSurrogate(c) ? ReplacementChar : c;
            }
        }

        return new string(buffer, 0, written);
    }

    /// <summary>
    /// Returns <paramref name="value"/> with every Unicode scalar that <paramref name="isAllowed"/> rejects (after
    /// lower-casing, when <paramref name="lowerCase"/>) replaced by one <c>_</c>, cut to <paramref name="maxLength"/>
    /// characters. Only ASCII is ever allowed, so the result has one character per scalar. Returns the same instance when
    /// nothing changes.
    /// </summary>
    public static string ReplaceDisallowed(string value, int maxLength, Func<char, bool> isAllowed, bool lowerCase)
    {
        ArgumentNullException.ThrowIfNull(value);

        if (value.Length <= maxLength && AllAllowed(value, isAllowed))
        {
            return value;
        }

        var builder = new StringBuilder(Math.Min(value.Length, maxLength));
        foreach (Rune rune in value.EnumerateRunes())
        {
            if (builder.Length == maxLength)
            {
                break;
            }

            Rune mapped = lowerCase ? Rune.ToLowerInvariant(rune) : rune;
            builder.Append(mapped.IsAscii && isAllowed((char)mapped.Value) ? (char)mapped.Value : '_');
        }

        return builder.ToString();
    }

    /// <summary>Returns whether every character of <paramref name="text"/> is allowed.</summary>
    public static bool AllAllowed(string text, Func<char, bool> isAllowed)
    {
        foreach (char c in text)
        {
            if (!isAllowed(c))
            {
                return false;
            }
        }

        return true;
    }
}
