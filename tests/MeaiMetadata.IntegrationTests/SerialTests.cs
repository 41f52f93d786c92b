namespace MeaiMetadata.IntegrationTests;

/// <summary>
/// Tests that subscribe to process-wide telemetry by name (the OpenTelemetry SDK's <c>AddMeter</c>) and assert exact counts:
/// xunit runs this collection after the parallel ones, alone, so no other test's pipeline adds to what they read.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTests
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Serial: process-wide telemetry";
}
