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

        // ASP.NET Core's hosting put the incoming baggage on the request's activity before any middleware ran.
        bool fromActivity = BaggageMembers.RemoveAppId(Activity.Current);
        if (fromHeaders || fromActivity)
        {
            metrics.Removed.Add(1);
            Log.BaggageRemoved(logger, fromHeaders && fromActivity ? "the baggage header and the request activity" : fromHeaders ? "the baggage header" : "the request activity");
        }
    }
}
