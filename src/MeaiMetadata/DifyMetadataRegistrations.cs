namespace MeaiMetadata;

/// <summary>The option names registered with <c>AddDifyMetadata</c>: <c>UseDifyMetadata</c> follows those live.</summary>
internal sealed class DifyMetadataRegistrations
{
    public HashSet<string> Names { get; } = new(StringComparer.Ordinal);
}
