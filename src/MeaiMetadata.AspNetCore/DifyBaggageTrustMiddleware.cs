using Microsoft.AspNetCore.Builder;
using System.Diagnostics;
using MeaiMetadata.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata.AspNetCore;

/// <summary>The middleware of <see cref="DifyBaggageTrustApplicationBuilderExtensions.UseDifyBaggageTrust(Microsoft.AspNetCore.Builder.IApplicationBuilder, Func{HttpContext, bool})"/>:
/// removes the W3C Baggage item <c>dify.app_id</c> of callers it does not trust.</summary>
internal sealed class DifyBaggageTrustMiddleware(RequestDelegate next, Func<HttpContext, bool> isTrusted, DifyBaggageTrustMetrics metrics, ILogger logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (!IsTrusted(context))
        {
            RemoveAppId(context);
        }

        return next(context);
    }

    private bool IsTrusted(HttpContext context)
    {
        try
        {
            return isTrusted(context);
        }
#pragma warning disable CA1031 // A failing predicate means an untrusted caller, never a failed request.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TrustPredicateFailed(logger, ex);
            return false;
        }
    }

    private void RemoveAppId(HttpContext context)
    {
        bool fromHeaders = false;
        foreach (string name in BaggageMembers.HeaderNames)
        {
            fromHeaders |= BaggageMembers.RemoveAppId(context.Request.Headers, name);
        }

        // ASP.NET Core's hosting put the incoming baggage on the request's activity, and OpenTelemetry's ASP.NET Core
        // instrumentation into its Baggage.Current, before any middleware ran. Baggage.Current lives in a holder the request's
        // flows share, so the removal reaches the endpoint and OpenTelemetry's HttpClient instrumentation.
        bool fromActivity = BaggageMembers.RemoveAppId(Activity.Current);
        bool fromOpenTelemetry = OpenTelemetryBaggage.RemoveAppId();
        if (fromHeaders || fromActivity || fromOpenTelemetry)
        {
            metrics.Removed.Add(1);
            Log.BaggageRemoved(logger, Where(fromHeaders, fromActivity, fromOpenTelemetry));
        }
    }

    private static string Where(bool fromHeaders, bool fromActivity, bool fromOpenTelemetry)
    {
        string[] places =
        [
            .. fromHeaders ? ["the baggage header"] : Array.Empty<string>(),
            .. fromActivity ? ["the request activity"] : Array.Empty<string>(),
            .. fromOpenTelemetry ? ["OpenTelemetry's Baggage.Current"] : Array.Empty<string>(),
        ];
        return places.Length switch
        {
            1 => places[0],
            2 => $"{places[0]} and {places[1]}",
            _ => $"{places[0]}, {places[1]} and {places[2]}",
        };
    }
}
