using System.Globalization;
using System.Text;

namespace MeaiMetadata.Tests.Reliability;

/// <summary>
/// An independent reference model of what the layer must produce, written from the specification (README and issue),
/// not from the implementation, so the property tests compare two separate derivations.
/// </summary>
internal static class Oracle
{
    public const int MaxPairs = 16;
    public const int MaxKeyLength = 64;
    public const int MaxValueLength = 512;
    public const string AppIdKey = "dify_app_id";
    public const string SourceKey = "dify_source";

    /// <summary>Returns whether <paramref name="text"/> holds a UTF-16 surrogate that is not part of a well-formed pair.</summary>
    public static bool HasLoneSurrogate(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Replaces every lone surrogate with U+FFFD; the length is unchanged.</summary>
    public static string ReplaceLoneSurrogates(string text)
    {
        char[] chars = text.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(chars[i]))
            {
                chars[i] = '\uFFFD';
            }
        }

        return new string(chars);
    }

    /// <summary>The first <paramref name="length"/> chars of <see cref="ReplaceLoneSurrogates"/>(<paramref name="text"/>),
    /// without copying all of a huge text: whether a char is lone depends only on its neighbours.</summary>
    public static string ReplacedPrefix(string text, int length)
    {
        if (text.Length <= length)
        {
            return ReplaceLoneSurrogates(text);
        }

        // One char more than asked, so that a high surrogate at the end still sees its low half.
        return ReplaceLoneSurrogates(text[..(length + 1)])[..length];
    }

    /// <summary>The specified normalization: lone surrogates become U+FFFD, then the text is cut to
    /// <paramref name="maxLength"/> UTF-16 chars, one char earlier when the cut would split a pair.</summary>
    public static string Normalize(string text, int maxLength)
    {
        if (text.Length <= maxLength)
        {
            return ReplaceLoneSurrogates(text);
        }

        string replaced = ReplacedPrefix(text, maxLength + 1);
        int cut = maxLength;
        if (cut > 0 && char.IsHighSurrogate(replaced[cut - 1]) && char.IsLowSurrogate(replaced[cut]))
        {
            cut--;
        }

        return replaced[..cut];
    }

    /// <summary>Whether a caller key is one OpenAI accepts and the layer therefore keeps (reserved names aside).</summary>
    public static bool IsValidCallerKey(string key) =>
        key.Length is >= 1 and <= MaxKeyLength && !HasLoneSurrogate(key);

    public static bool IsReserved(string key) => key is AppIdKey or SourceKey;

    /// <summary>The expected outcome of merging tags into caller pairs (given in the caller's enumeration order).</summary>
    public static MergeExpectation Merge(IReadOnlyList<KeyValuePair<string, string?>> caller, string normalizedAppId, string? source)
    {
        var dropped = new List<string>();
        var adjusted = new List<string>();
        var valid = new List<KeyValuePair<string, string>>();
        foreach (KeyValuePair<string, string?> pair in caller)
        {
            if (IsReserved(pair.Key))
            {
                continue; // replaced or removed: the layer's own keys win, not reported as dropped
            }

            if (!IsValidCallerKey(pair.Key) || pair.Value is null)
            {
                dropped.Add(pair.Key);
                continue;
            }

            string value = Normalize(pair.Value, MaxValueLength);
            if (!string.Equals(value, pair.Value, StringComparison.Ordinal))
            {
                adjusted.Add(pair.Key);
            }

            valid.Add(new(pair.Key, value));
        }

        // dify_app_id needs one slot: the newest caller pairs give way.
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < valid.Count; i++)
        {
            if (i < MaxPairs - 1)
            {
                result[valid[i].Key] = valid[i].Value;
            }
            else
            {
                dropped.Add(valid[i].Key);
            }
        }

        result[AppIdKey] = normalizedAppId;
        bool sourceOmitted = false;
        if (source is not null)
        {
            if (result.Count < MaxPairs)
            {
                result[SourceKey] = source;
            }
            else
            {
                sourceOmitted = true;
            }
        }

        return new MergeExpectation(result, dropped, adjusted, sourceOmitted);
    }

    /// <summary>Checks the limits every metadata object the layer produces must respect.</summary>
    public static void AssertWithinLimits(IEnumerable<KeyValuePair<string, string>> metadata)
    {
        int count = 0;
        foreach (KeyValuePair<string, string> pair in metadata)
        {
            count++;
            Assert.InRange(pair.Key.Length, 1, MaxKeyLength);
            Assert.NotNull(pair.Value);
            Assert.InRange(pair.Value.Length, 0, MaxValueLength);
            Assert.False(HasLoneSurrogate(pair.Key), "a key holds a lone surrogate");
            Assert.False(HasLoneSurrogate(pair.Value), "a value holds a lone surrogate");
        }

        Assert.InRange(count, 0, MaxPairs);
    }

    /// <summary>Checks the app id as sent against the input: a prefix of the input after replacement, cut only when over
    /// 512 chars and then never between the halves of a pair.</summary>
    public static void AssertSentAppId(string input, string sent)
    {
        // Replacing lone surrogates keeps the length, so the input's length decides whether a cut was due.
        string replaced = ReplacedPrefix(input, Math.Min(input.Length, MaxValueLength + 1));
        Assert.False(HasLoneSurrogate(sent), "the app id sent holds a lone surrogate");
        Assert.StartsWith(sent, replaced, StringComparison.Ordinal);
        if (input.Length <= MaxValueLength)
        {
            Assert.Equal(input.Length, sent.Length);
        }
        else if (sent.Length != MaxValueLength)
        {
            Assert.Equal(MaxValueLength - 1, sent.Length);
            Assert.True(char.IsHighSurrogate(replaced[MaxValueLength - 1]) && char.IsLowSurrogate(replaced[MaxValueLength]),
                "cut one char short without a pair at the limit");
        }
    }

    /// <summary>A short printable description of a (possibly huge) string for failure reports.</summary>
    public static string Describe(string? text)
    {
        if (text is null)
        {
            return "null";
        }

        var builder = new StringBuilder();
        builder.Append(CultureInfo.InvariantCulture, $"len {text.Length} \"");
        foreach (char c in text.Length > 48 ? text[..48] : text)
        {
            if (c is >= ' ' and <= '~' and not '"' and not '\\')
            {
                builder.Append(c);
            }
            else
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }
        }

        builder.Append(text.Length > 48 ? "\"…" : "\"");
        return builder.ToString();
    }
}

/// <summary>What a merge must produce.</summary>
internal sealed record MergeExpectation(
    Dictionary<string, string> Result, List<string> Dropped, List<string> Adjusted, bool SourceOmitted);
