using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata.AspNetCore;

/// <summary>The app id lookup of a <see cref="DifySessionOptions"/>, fixed when the middleware or endpoint convention is added, and the
/// session it opens for one request.</summary>
internal sealed class DifySessionLookup
{
    private readonly Func<HttpContext, string?> _appId;
    private readonly ILogger _logger;
    private int _warnedBeforeAuthentication;

    private DifySessionLookup(Func<HttpContext, string?> appId, bool propagateAsBaggage, ILogger logger)
    {
        _appId = appId;
        PropagateAsBaggage = propagateAsBaggage;
        _logger = logger;
    }

    /// <summary>Gets a value indicating whether the sessions carry their app id as W3C Baggage.</summary>
    public bool PropagateAsBaggage { get; }

    /// <summary>Reads <paramref name="configure"/>'s options once.</summary>
    /// <exception cref="ArgumentException"><see cref="DifySessionOptions.AppId"/> is not set.</exception>
    public static DifySessionLookup Create(Action<DifySessionOptions> configure, ILogger logger)
    {
        var options = new DifySessionOptions();
        configure(options);
        if (options.AppId is not { } appId)
        {
            throw new ArgumentException($"{nameof(DifySessionOptions)}.{nameof(DifySessionOptions.AppId)} must be set: it is where a request's app id comes from.", nameof(configure));
        }

        return new DifySessionLookup(appId, options.PropagateAsBaggage, logger);
    }

    /// <summary>Opens the session of <paramref name="context"/>'s request, or returns <see langword="null"/> (with a Debug
    /// log saying why) when the lookup gives no app id or throws.</summary>
    public IDisposable? Begin(HttpContext context)
    {
        string? appId;
        try
        {
            appId = _appId(context);
        }
#pragma warning disable CA1031 // A failing lookup means a request without a session, never a failed request.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.AppIdLookupFailed(_logger, ex);
            return null;
        }

        if (string.IsNullOrWhiteSpace(appId))
        {
            // Authentication is registered but has not run for this request: the lookup read an anonymous user.
            if (context.User.Identity?.IsAuthenticated != true && context.Features.Get<IAuthenticateResultFeature>() is null &&
                context.RequestServices?.GetService<IAuthenticationSchemeProvider>() is not null &&
                Interlocked.Exchange(ref _warnedBeforeAuthentication, 1) == 0)
            {
                Log.SessionBeforeAuthentication(_logger);
            }

            // A claim or route value of blanks names no app (a misconfigured identity), whatever a session would send.
            Log.NoAppId(_logger, appId is null ? "the app id lookup returned null" : appId.Length == 0 ? "the app id lookup returned an empty app id" : "the app id lookup returned only white space");
            return null;
        }

        return BeginSession(appId, PropagateAsBaggage);
    }

    /// <summary>Opens <c>DifySession.Begin(appId, propagateAsBaggage)</c>; a propagating session also sets <c>dify.app_id</c>
    /// in OpenTelemetry's <c>Baggage.Current</c> while it is open (see <see cref="OpenTelemetryBaggage"/>).</summary>
    /// <returns>A scope that ends the session, and restores OpenTelemetry's baggage, when disposed.</returns>
    private static IDisposable BeginSession(string appId, bool propagateAsBaggage)
    {
        IDisposable session = DifySession.Begin(appId, propagateAsBaggage);
        return propagateAsBaggage ? new Scopes(OpenTelemetryBaggage.SetAppId(appId), session) : session;
    }

    /// <summary>Disposes a session and the OpenTelemetry baggage it set, the baggage first.</summary>
    private sealed class Scopes(IDisposable baggage, IDisposable session) : IDisposable
    {
        public void Dispose()
        {
            baggage.Dispose();
            session.Dispose();
        }
    }
}
