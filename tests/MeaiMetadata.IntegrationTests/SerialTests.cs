namespace MeaiMetadata.IntegrationTests;

/// <summary>
/// Tests that must run alone: those that subscribe to process-wide telemetry by name (the OpenTelemetry SDK's <c>AddMeter</c>)
/// and assert exact counts, and the load test, which would crowd every other test. xunit runs this collection after the
/// parallel ones, one test at a time.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTests
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Serial: process-wide telemetry and load";
}
