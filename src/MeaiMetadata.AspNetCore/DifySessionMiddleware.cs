using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace MeaiMetadata.AspNetCore;

/// <summary>The middleware of <see cref="DifySessionApplicationBuilderExtensions.UseDifySession(Microsoft.AspNetCore.Builder.IApplicationBuilder, Action{DifySessionOptions})"/>:
/// the rest of the pipeline runs inside the request's <see cref="DifySession"/>, which ends when it returns.</summary>
internal sealed class DifySessionMiddleware(RequestDelegate next, DifySessionLookup lookup)
{
    public async Task InvokeAsync(HttpContext context)
    {
        // Begun inside this async method, so the session is current for the rest of the pipeline only and never flows
        // back to the server; disposed when the pipeline returns, throws or is cancelled.
        using IDisposable? session = lookup.Begin(context);
        await next(context).ConfigureAwait(false);
    }
}
