using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using MeaiMetadata.Diagnostics;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// The idle path's baggage read (<c>AppIdFromBaggage</c>, on by default) in a flow whose activities carry unrelated baggage
/// (an incoming request's and an outgoing call's): the BCL's <see cref="Activity.GetBaggageItem"/> (its iterator, 64 B)
/// against <see cref="ActivityBaggage.Find"/>, and a request without a session with the reading on and off.
/// </summary>
[MemoryDiagnoser]
public class BaggageReadBenchmark
{
    private readonly MiddlewarePipelines _p = new();
    private Activity? _incoming;
    private Activity? _outgoing;
    private DifyMetadataChatClient _reading = null!;
    private DifyMetadataChatClient _notReading = null!;

    [GlobalSetup]
    public void Setup()
    {
        _p.Build(CallerOptions.Null);
        _reading = new DifyMetadataChatClient(_p.Inner);
        _notReading = new DifyMetadataChatClient(_p.Inner, new DifyMetadataOptions { AppIdFromBaggage = false });
        _incoming = new Activity("incoming request").AddBaggage("tenant", "t1").AddBaggage("region", "eu").Start();
        _outgoing = new Activity("outgoing call").AddBaggage("span.kind", "client").Start();
        if (!ActivityBaggage.IsAllocationFree)
        {
            throw Check.Fail($"{nameof(BaggageReadBenchmark)}: the allocation-free reader was not built on this runtime");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _outgoing?.Stop();
        _incoming?.Stop();
        Check.Untagged(_p.Inner.LastRawOptions, nameof(BaggageReadBenchmark) + " idle request");
    }

    [Benchmark(Baseline = true)]
    public string? GetBaggageItem() => Activity.Current!.GetBaggageItem(DifyMetadataTelemetry.AppIdTag);

    [Benchmark]
    public string? ActivityBaggageFind() => ActivityBaggage.Find(Activity.Current, DifyMetadataTelemetry.AppIdTag);

    [Benchmark]
    public Task<ChatResponse> IdleRequestReadingBaggage() => _reading.GetResponseAsync(_p.Messages, _p.Options);

    [Benchmark]
    public Task<ChatResponse> IdleRequestNotReadingBaggage() => _notReading.GetResponseAsync(_p.Messages, _p.Options);
}
