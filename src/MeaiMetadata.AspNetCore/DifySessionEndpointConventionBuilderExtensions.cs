using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MeaiMetadata.AspNetCore;

/// <summary>Adds the <see cref="DifySession"/> of each request to minimal API endpoints (a route handler or a route group).</summary>
public static class DifySessionEndpointConventionBuilderExtensions
{
    /// <summary>Runs the route handlers of <paramref name="builder"/>, and the execution of their results, inside
    /// <c>DifySession.Begin(appId(context))</c>.</summary>
    /// <typeparam name="TBuilder">The type of the endpoint convention builder.</typeparam>
    /// <param name="builder">A route handler (<c>app.MapPost(...)</c>) or a route group (<c>app.MapGroup(...)</c>).</param>
    /// <param name="appId">The lookup of a request's app id, for example <c>DifyAppIdSources.Claim("app_id")</c>; never a
    /// raw request header, which any client can send.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <remarks>See <see cref="WithDifySession{TBuilder}(TBuilder, Action{DifySessionOptions})"/>.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="appId"/> is <see langword="null"/>.</exception>
    public static TBuilder WithDifySession<TBuilder>(this TBuilder builder, Func<HttpContext, string?> appId)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(appId);
        return builder.WithDifySession(o => o.AppId = appId);
    }

    /// <summary>Runs the route handlers of <paramref name="builder"/>, and the execution of their results, inside a
    /// <see cref="DifySession"/> for the app id that <see cref="DifySessionOptions.AppId"/> finds.</summary>
    /// <typeparam name="TBuilder">The type of the endpoint convention builder.</typeparam>
    /// <param name="builder">A route handler (<c>app.MapPost(...)</c>) or a route group (<c>app.MapGroup(...)</c>).</param>
    /// <param name="configure">Sets the options; called once, here.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <remarks>
    /// <para>
    /// An endpoint filter: it covers minimal API route handlers (delegates), not MVC controllers or other endpoints, which
    /// <c>UseDifySession</c> covers. The lookup runs when the endpoint runs, after authentication and authorization.
    /// </para>
    /// <para>
    /// The session is <see cref="DifySession.Current"/> in the handler and while what it returns is written: an
    /// <see cref="IResult"/> (also one that calls the model while it writes, such as <c>TypedResults.ServerSentEvents</c>),
    /// an <see cref="IAsyncEnumerable{T}"/> or any other value serialized as JSON (with the application's JSON options, as
    /// ASP.NET Core does). It ends when the result has been written, when the handler or the result throws, and at the latest
    /// when the request ends. A lookup that returns <see langword="null"/> or an empty id, or throws, runs the handler
    /// as without the filter and logs at Debug why, under the category <c>MeaiMetadata.AspNetCore.DifySessionEndpointFilter</c>.
    /// With <see cref="DifySessionOptions.PropagateAsBaggage"/>, OpenTelemetry's <c>Baggage.Current</c> carries the app id as
    /// <c>dify.app_id</c> in the handler and while its result is written, and is restored after; without it,
    /// <c>Baggage.Current</c> is left alone.
    /// </para>
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="configure"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="configure"/> leaves <see cref="DifySessionOptions.AppId"/> unset.</exception>
    public static TBuilder WithDifySession<TBuilder>(this TBuilder builder, Action<DifySessionOptions> configure)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);

        var options = new DifySessionOptions();
        configure(options);
        if (options.AppId is null)
        {
            throw new ArgumentException($"{nameof(DifySessionOptions)}.{nameof(DifySessionOptions.AppId)} must be set: it is where a request's app id comes from.", nameof(configure));
        }

        Action<DifySessionOptions> copy = o =>
        {
            o.AppId = options.AppId;
            o.PropagateAsBaggage = options.PropagateAsBaggage;
        };
        return builder.AddEndpointFilterFactory((factoryContext, next) =>
        {
            ILoggerFactory loggerFactory = factoryContext.ApplicationServices.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
            var filter = new DifySessionEndpointFilter(DifySessionLookup.Create(copy, loggerFactory.CreateLogger<DifySessionEndpointFilter>()));
            return invocationContext => filter.InvokeAsync(invocationContext, next);
        });
    }
}
