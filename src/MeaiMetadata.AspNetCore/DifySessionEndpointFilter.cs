using Microsoft.AspNetCore.Http;

namespace MeaiMetadata.AspNetCore;

/// <summary>The endpoint filter of <see cref="DifySessionEndpointConventionBuilderExtensions.WithDifySession{TBuilder}(TBuilder, Action{DifySessionOptions})"/>:
/// the route handler, and the execution of what it returns, run inside the request's <see cref="DifySession"/>.</summary>
/// <remarks>
/// A filter returns before ASP.NET Core executes the handler's result, so a result that calls the model while it is written
/// (a stream, <c>TypedResults.ServerSentEvents</c>, a custom <see cref="IResult"/>) would run outside a session that ends
/// with the filter. The filter therefore hands back a <see cref="DifySessionResult"/> that executes the result inside a
/// session for the same app and ends both sessions after it.
/// </remarks>
internal sealed class DifySessionEndpointFilter(DifySessionLookup lookup) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        HttpContext http = context.HttpContext;
        IDisposable? scope = lookup.Begin(http);
        if (scope is null)
        {
            return await next(context).ConfigureAwait(false);
        }

        DifySession session = DifySession.Current!;

        // Whatever becomes of the result (an outer filter may replace it), the session ends with the request.
        http.Response.RegisterForDispose(scope);
        object? result;
        try
        {
            result = await next(context).ConfigureAwait(false);
        }
        catch
        {
            scope.Dispose();
            throw;
        }

        if (DifySessionResult.Wrap(result, session, scope) is { } wrapped)
        {
            return wrapped;
        }

        scope.Dispose();
        return result;
    }
}
