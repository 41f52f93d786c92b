// PLACEHOLDER, to be deleted when src/MeaiMetadata.AspNetCore (issue 14a) is merged: a private stand-in with the
// package's agreed API, so the sample builds before the package exists. Nothing here is the package.
using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace MeaiMetadata.AspNetCore;

internal sealed class DifySessionOptions
{
    public Func<HttpContext, string?>? AppId { get; set; }

    public bool PropagateAsBaggage { get; set; }
}

internal static class DifySessionApplicationBuilderExtensions
{
    public static IApplicationBuilder UseDifySession(this IApplicationBuilder app, Action<DifySessionOptions> configure)
    {
        var options = new DifySessionOptions();
        configure(options);
        return app.Use(async (context, next) =>
        {
            string? appId = options.AppId?.Invoke(context);
            if (string.IsNullOrEmpty(appId))
            {
                await next(context);
                return;
            }

            using (DifySession.Begin(appId, options.PropagateAsBaggage))
            {
                await next(context);
            }
        });
    }
}

internal static class DifyAppIdSources
{
    public static Func<HttpContext, string?> Claim(string claimType) => context => context.User.FindFirst(claimType)?.Value;
}

internal static class DifyBaggageTrustApplicationBuilderExtensions
{
    public static IApplicationBuilder UseDifyBaggageTrust(this IApplicationBuilder app, Func<HttpContext, bool> isTrusted) =>
        app.Use(async (context, next) =>
        {
            if (!isTrusted(context))
            {
                if (context.Request.Headers.TryGetValue("baggage", out Microsoft.Extensions.Primitives.StringValues values))
                {
                    string[] kept = [.. values.SelectMany(v => (v ?? "").Split(','))
                        .Where(m => m.Trim().Length > 0 && !string.Equals(Uri.UnescapeDataString(m.Split('=')[0].Trim()), "dify.app_id", StringComparison.Ordinal))];
                    context.Request.Headers.Remove("baggage");
                    if (kept.Length > 0)
                    {
                        context.Request.Headers["baggage"] = string.Join(",", kept);
                    }
                }

                for (Activity? activity = Activity.Current; activity is not null; activity = activity.Parent)
                {
                    int count = activity.Baggage.Count();
                    for (int i = 0; i < count; i++)
                    {
                        activity.SetBaggage("dify.app_id", null);
                    }
                }
            }

            await next(context);
        });
}

internal static class DifyTrustedCallers
{
    public static Func<HttpContext, bool> AuthenticatedService(string claimType, string value) =>
        context => context.User.Identity?.IsAuthenticated == true && context.User.HasClaim(claimType, value);
}
