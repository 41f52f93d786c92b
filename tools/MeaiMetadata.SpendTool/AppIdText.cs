namespace MeaiMetadata.SpendTool;

/// <summary>The app id as the library puts it on the wire, so that <c>--app</c> finds what was stored.</summary>
/// <remarks>A copy of the core's rule (<c>MetadataText.Normalize</c>, internal there): every lone UTF-16 surrogate becomes
/// U+FFFD and the text is cut to 512 UTF-16 characters (OpenAI's limit for a metadata value) without splitting a
/// surrogate pair. Everything else (case, whitespace, punctuation, non-ASCII) is kept.</remarks>
internal static class AppIdText
{
    /// <summary>The longest metadata value OpenAI accepts, in UTF-16 characters.</summary>
    public const int MaxLength = 512;

    /// <summary>Returns <paramref name="value"/> as the wire carries it.</summary>
    public static string Normalize(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var buffer = new char[Math.Min(value.Length, MaxLength)];
        int written = 0;
        for (int i = 0; i < value.Length && written < buffer.Length; i++)
        {
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                if (written + 2 > buffer.Length)
                {
                    break; // the pair does not fit: cut before it
                }

                buffer[written++] = c;
                buffer[written++] = value[++i];
            }
            else
            {
                buffer[written++] = char.IsSurrogate(c) ? '\uFFFD' : c;
            }
        }

        return new string(buffer, 0, written);
    }
}
