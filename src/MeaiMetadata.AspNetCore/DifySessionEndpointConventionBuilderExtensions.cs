using MeaiMetadata;
using MeaiMetadata.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the <see cref="DifySession"/> of each request to minimal API endpoints (a route handler or a route group).</summary>
public static class DifySessionEndpointConventionBuilderExtensions
{
    /// <summary>Runs the endpoints of <paramref name="builder"/> (their filters, handlers and the writing of their results)
    /// inside <c>DifySession.Begin(appId(context))</c>.</summary>
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

    /// <summary>Runs the endpoints of <paramref name="builder"/> (their filters, handlers and the writing of their results)
    /// inside a <see cref="DifySession"/> for the app id that <see cref="DifySessionOptions.AppId"/> finds.</summary>
    /// <typeparam name="TBuilder">The type of the endpoint convention builder.</typeparam>
    /// <param name="builder">A route handler (<c>app.MapPost(...)</c>) or a route group (<c>app.MapGroup(...)</c>).</param>
    /// <param name="configure">Sets the options; called once, here.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <remarks>
    /// <para>
    /// A convention that wraps each endpoint's request delegate: it covers minimal API route handlers, route groups and any
    /// other endpoint built with conventions (<c>MapControllers()</c> too). The lookup runs when the endpoint runs, after
    /// authentication and authorization.
    /// </para>
    /// <para>
    /// The session is <see cref="DifySession.Current"/> in the endpoint's filters, in the handler and while what it returns is
    /// written (ASP.NET Core writes it as without the session: an <see cref="IResult"/>, also one that calls the model while
    /// it writes such as <c>TypedResults.ServerSentEvents</c>, an <see cref="IAsyncEnumerable{T}"/>, any value as JSON). It
    /// ends when the endpoint has run, also when it throws or the request is aborted. A lookup that returns
    /// <see langword="null"/>, an empty id or only white space, or throws, runs the endpoint as without it and logs at Debug why, under the
    /// category <c>MeaiMetadata.AspNetCore.DifySessionMiddleware</c>.
    /// With <see cref="DifySessionOptions.PropagateAsBaggage"/>, HTTP clients with <c>AddDifyBaggage()</c> send the app id as
    /// <c>dify.app_id</c> while the endpoint runs; other clients do not.
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
        // The endpoint's whole request delegate (its filters, the handler and the writing of what it returns) runs inside
        // the session, in one async flow: a result that calls the model while it is written is covered as it is, and
        // ASP.NET Core writes every result exactly as it would without the session.
        builder.Add(endpoint =>
        {
            RequestDelegate inner = endpoint.RequestDelegate
                ?? throw new InvalidOperationException($"The endpoint '{endpoint.DisplayName}' has no request delegate to run inside a DifySession.");
            ILoggerFactory loggerFactory = endpoint.ApplicationServices.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
            var session = new DifySessionMiddleware(inner, DifySessionLookup.Create(copy, loggerFactory.CreateLogger<DifySessionMiddleware>()));
            endpoint.RequestDelegate = session.InvokeAsync;
        });
        return builder;
    }
}
