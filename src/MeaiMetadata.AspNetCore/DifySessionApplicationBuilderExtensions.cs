using MeaiMetadata;
using MeaiMetadata.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the <see cref="DifySession"/> of each HTTP request to an ASP.NET Core pipeline.</summary>
public static class DifySessionApplicationBuilderExtensions
{
    /// <summary>Runs the rest of the pipeline of each request inside <c>DifySession.Begin(appId(context))</c>, so every LLM
    /// call the request makes through a <c>UseDifyMetadata()</c> pipeline is tagged with its app id.</summary>
    /// <param name="app">The application builder.</param>
    /// <param name="appId">The lookup of a request's app id, for example <c>DifyAppIdSources.Claim("app_id")</c>. Take it
    /// from an authenticated identity (add the middleware after <c>UseAuthentication()</c>), never from a raw request header:
    /// any client can send any header, and so choose whom its usage is attributed to.</param>
    /// <returns>The <paramref name="app"/>.</returns>
    /// <remarks>See <see cref="UseDifySession(IApplicationBuilder, Action{DifySessionOptions})"/>.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="app"/> or <paramref name="appId"/> is <see langword="null"/>.</exception>
    public static IApplicationBuilder UseDifySession(this IApplicationBuilder app, Func<HttpContext, string?> appId)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(appId);
        return app.UseDifySession(o => o.AppId = appId);
    }

    /// <summary>Runs the rest of the pipeline of each request inside a <see cref="DifySession"/> for the app id that
    /// <see cref="DifySessionOptions.AppId"/> finds.</summary>
    /// <param name="app">The application builder.</param>
    /// <param name="configure">Sets the options; called once, here.</param>
    /// <returns>The <paramref name="app"/>.</returns>
    /// <remarks>
    /// <para>
    /// The session is <see cref="DifySession.Current"/> for everything after the middleware (endpoints, later middleware,
    /// work they start that captures the flow) and ends when the rest of the pipeline returns: when the response is written,
    /// and also when it throws or the request is aborted. Work that outlives the request tags nothing after that, and sends
    /// nothing on. With <see cref="DifySessionOptions.PropagateAsBaggage"/>, HTTP clients with <c>AddDifyBaggage()</c> send
    /// the app id as <c>dify.app_id</c> while the session is open; other clients do not.
    /// </para>
    /// <para>
    /// A lookup that returns <see langword="null"/>, an empty id or only white space, or throws, leaves the request as it would be without the
    /// middleware (no session, the same response) and logs at Debug why, under the category
    /// <c>MeaiMetadata.AspNetCore.DifySessionMiddleware</c>.
    /// </para>
    /// <para>
    /// Order: after <c>UseAuthentication()</c> (and <c>UseAuthorization()</c>) so that the lookup sees the authenticated user,
    /// and after <c>UseDifyBaggageTrust</c>. No app id is ever read from a request header by default: any client can send
    /// one.
    /// </para>
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="app"/> or <paramref name="configure"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="configure"/> leaves <see cref="DifySessionOptions.AppId"/> unset.</exception>
    public static IApplicationBuilder UseDifySession(this IApplicationBuilder app, Action<DifySessionOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(configure);

        ILoggerFactory loggerFactory = app.ApplicationServices.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var lookup = DifySessionLookup.Create(configure, loggerFactory.CreateLogger<DifySessionMiddleware>());
        return app.Use(next => new DifySessionMiddleware(next, lookup).InvokeAsync);
    }
}
