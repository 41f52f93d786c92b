using System.Diagnostics.Metrics;
using MeaiMetadata.AspNetCore.Diagnostics;
using MeaiMetadata.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the edge's trust boundary for W3C Baggage to an ASP.NET Core pipeline.</summary>
public static class DifyBaggageTrustApplicationBuilderExtensions
{
    /// <summary>Removes the W3C Baggage item <c>dify.app_id</c> from the requests of callers that
    /// <paramref name="isTrusted"/> does not trust, so that no client can choose the app id its usage is attributed to.</summary>
    /// <param name="app">The application builder.</param>
    /// <param name="isTrusted">Decides whether a caller may set the app id, for example
    /// <c>DifyTrustedCallers.Networks("10.0.0.0/8")</c>. It runs once per request; if it throws, the caller is not trusted
    /// (with a Warning log) and the request goes on.</param>
    /// <returns>The <paramref name="app"/>.</returns>
    /// <remarks>
    /// <para>
    /// For a caller not trusted, the member <c>dify.app_id</c> (case-sensitive, as W3C Baggage keys are; also
    /// percent-encoded or with whitespace around it) is removed from every <c>baggage</c> (and legacy
    /// <c>Correlation-Context</c>) request header, the other members kept as they were and a header left empty dropped,
    /// from the baggage of <see cref="System.Diagnostics.Activity.Current"/> and its parents, where ASP.NET Core's
    /// hosting put the incoming baggage before any middleware ran, and from OpenTelemetry's <c>OpenTelemetry.Baggage.Current</c>,
    /// which OpenTelemetry.Instrumentation.AspNetCore fills from the same header before any middleware runs (with
    /// OpenTelemetry's default propagator) and which OpenTelemetry.Instrumentation.Http writes into the <c>baggage</c> header
    /// of every outgoing request. The change to <c>Baggage.Current</c> is seen by the rest of the pipeline, the endpoint and
    /// its outgoing calls. <c>UseDifyMetadata()</c>'s <c>AppIdFromBaggage</c> and the HTTP clients of the request then see no
    /// app id from the caller. Each request stripped, wherever the item was found, logs once at Debug and adds 1 to the
    /// counter <c>dify.baggage.removed</c> (unit <c>{request}</c>) of the <c>MeaiMetadata</c> meter. Trusted callers'
    /// requests are not touched.
    /// </para>
    /// <para>
    /// Add it first, before anything that reads baggage or makes LLM calls; only <c>UseForwardedHeaders()</c> or
    /// <c>UseAuthentication()</c> go before it when the predicate needs what they set.
    /// </para>
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="app"/> or <paramref name="isTrusted"/> is <see langword="null"/>.</exception>
    public static IApplicationBuilder UseDifyBaggageTrust(this IApplicationBuilder app, Func<HttpContext, bool> isTrusted)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(isTrusted);

        IServiceProvider services = app.ApplicationServices;
        ILoggerFactory loggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var metrics = DifyBaggageTrustMetrics.For(services.GetService<IMeterFactory>());
        ILogger logger = loggerFactory.CreateLogger<DifyBaggageTrustMiddleware>();
        return app.Use(next => new DifyBaggageTrustMiddleware(next, isTrusted, metrics, logger).InvokeAsync);
    }
}
