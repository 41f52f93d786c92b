using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace MeaiMetadata.AspNetCore;

/// <summary>The options of <see cref="DifySessionApplicationBuilderExtensions.UseDifySession(Microsoft.AspNetCore.Builder.IApplicationBuilder, Action{DifySessionOptions})"/>
/// and <see cref="DifySessionEndpointConventionBuilderExtensions.WithDifySession{TBuilder}(TBuilder, Action{DifySessionOptions})"/>:
/// where a request's app id comes from, and whether it travels on as W3C Baggage.</summary>
/// <remarks>
/// The options are read once, when the middleware or endpoint convention is added; changing them later has no effect.
/// </remarks>
public sealed class DifySessionOptions
{
    /// <summary>Gets or sets the lookup of a request's app id.</summary>
    /// <remarks>
    /// <para>
    /// It runs once per request, before the rest of the pipeline (the middleware) or the endpoint (<c>WithDifySession</c>). A
    /// non-empty result opens <c>DifySession.Begin(appId, PropagateAsBaggage)</c> for the request; <see langword="null"/>,
    /// an empty or blank string or an exception answers the request normally, with no session (its LLM calls go out untagged), and
    /// logs at Debug why.
    /// </para>
    /// <para>
    /// The app id decides whom usage is attributed to: take it from an identity the application authenticated (a claim of
    /// <see cref="HttpContext.User"/>, see <see cref="DifyAppIdSources.Claim(string)"/>), never from a raw request header
    /// or query string, which any client can set to any app.
    /// </para>
    /// </remarks>
    /// <value>The default value is <see langword="null"/>; it must be set before the middleware or endpoint convention is added.</value>
    public Func<HttpContext, string?>? AppId { get; set; }

    /// <summary>Gets or sets a value indicating whether the request's session carries its app id to other services as the
    /// W3C Baggage item <c>dify.app_id</c> (see <c>DifySession.Begin(string, bool)</c>).</summary>
    /// <remarks>
    /// <para>
    /// When <see langword="true"/>, the session is begun with <c>propagateAsBaggage: true</c>: HTTP clients with
    /// <c>DifyBaggageHandler</c> (<c>AddDifyBaggage()</c>) send the app id while it is open, also under
    /// OpenTelemetry.Instrumentation.Http (which rewrites the <c>baggage</c> header from OpenTelemetry's
    /// <c>Baggage.Current</c> below every handler: the handler puts the app id there for its own send only). Clients without
    /// the handler do not send it: neither <c>Baggage.Current</c> nor the request's <c>Activity</c> is changed, so no other
    /// flow of the request carries it, and nothing carries it once the session has ended.
    /// </para>
    /// <para>When <see langword="false"/>, the app id stays in this process.</para>
    /// </remarks>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool PropagateAsBaggage { get; set; }
}
