using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace MeaiMetadata.TwoServices;

/// <summary>How the edge takes a request from the internet: without the caller's trace context. The headers that carry it
/// are removed as the request's <see cref="HttpContext"/> is created, before ASP.NET Core's hosting and OpenTelemetry's
/// ASP.NET Core instrumentation read them to parent the request's span: a caller's <c>traceparent</c> would make the edge's
/// span the child of a span nobody exports, and let any client choose our trace ids and sampling. Each request starts a
/// trace of its own instead. The caller's baggage is left to <c>UseDifyBaggageTrust</c>.</summary>
/// <remarks>
/// A <c>DistributedContextPropagator</c> that ignores the trace context is not enough: with OpenTelemetry's default
/// propagator (trace context and baggage), its ASP.NET Core instrumentation extracts <c>traceparent</c> itself and starts
/// a span under it beside the one ASP.NET Core started.
/// </remarks>
internal sealed class InternetCallerHttpContextFactory(IServiceProvider services) : IHttpContextFactory
{
    /// <summary>W3C Trace Context, and <c>Request-Id</c>, which .NET's propagator reads when there is no <c>traceparent</c>.</summary>
    private static readonly string[] TraceContextHeaders = ["traceparent", "tracestate", "Request-Id"];

    private readonly DefaultHttpContextFactory _inner = new(services);

    public HttpContext Create(IFeatureCollection featureCollection)
    {
        HttpContext context = _inner.Create(featureCollection);
        foreach (string name in TraceContextHeaders)
        {
            _ = context.Request.Headers.Remove(name);
        }

        return context;
    }

    public void Dispose(HttpContext httpContext) => _inner.Dispose(httpContext);
}
