namespace MeaiMetadata.Tagging;

/// <summary>OpenAI's limits on request metadata (Chat Completions and Responses alike).</summary>
internal static class MetadataLimits
{
    /// <summary>At most 16 key-value pairs.</summary>
    public const int MaxPairs = 16;

    /// <summary>Keys of at most 64 characters.</summary>
    public const int MaxKeyLength = 64;

    /// <summary>Values of at most 512 characters.</summary>
    public const int MaxValueLength = 512;
}
