namespace MeaiMetadata.Tests;

/// <summary>
/// Tests that must run alone: those that read or empty the process-wide tag-values cache (other tests' thousands of random
/// app ids would evict what they check). xunit runs this collection after the parallel ones, one test at a time.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTests
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Serial: process-wide tag-values cache";
}
