using System.Diagnostics;

namespace MeaiMetadata.TwoServices;

/// <summary>How the edge reads the context of a request from the internet: its baggage as .NET reads it (for
/// <c>UseDifyBaggageTrust</c> to govern), but never its trace context. A caller's <c>traceparent</c> would make the edge's
/// request span the child of a span nobody exports, and let any client choose our trace ids and sampling; each request
/// starts a trace of its own instead.</summary>
internal sealed class InternetCallerPropagator(DistributedContextPropagator inner) : DistributedContextPropagator
{
    public override IReadOnlyCollection<string> Fields => inner.Fields;

    public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter) => inner.Inject(activity, carrier, setter);

    public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState)
    {
        traceId = null;
        traceState = null;
    }

    public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) =>
        inner.ExtractBaggage(carrier, getter);
}
