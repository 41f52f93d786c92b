using System.Diagnostics.Metrics;

namespace MeaiMetadata.AspNetCore.Diagnostics;

/// <summary>The counter of requests whose untrusted <c>dify.app_id</c> baggage was removed, on the <c>MeaiMetadata</c> meter.</summary>
internal sealed class DifyBaggageTrustMetrics
{
    /// <summary>The name of the counter.</summary>
    public const string RemovedCounter = "dify.baggage.removed";

    private static readonly Lazy<DifyBaggageTrustMetrics> s_shared = new(() => new DifyBaggageTrustMetrics(new Meter(DifyMetadataTelemetry.MeterName)));

    private DifyBaggageTrustMetrics(Meter meter)
    {
        Removed = meter.CreateCounter<long>(RemovedCounter, "{request}", "Requests of untrusted callers whose W3C Baggage item dify.app_id was removed.");
    }

    /// <summary>Gets the counter.</summary>
    public Counter<long> Removed { get; }

    /// <summary>Gets the counter on the meter of <paramref name="meterFactory"/>, or on a process-wide meter without one.</summary>
    public static DifyBaggageTrustMetrics For(IMeterFactory? meterFactory) =>
        meterFactory is null ? s_shared.Value : new DifyBaggageTrustMetrics(meterFactory.Create(DifyMetadataTelemetry.MeterName));
}
