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
    private readonly bool _propagateAsBaggage;
    private readonly ILogger _logger;
    private int _warnedBeforeAuthentication;

    private DifySessionLookup(Func<HttpContext, string?> appId, bool propagateAsBaggage, ILogger logger)
    {
        _appId = appId;
        _propagateAsBaggage = propagateAsBaggage;
        _logger = logger;
    }

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

        // Only HTTP clients with DifyBaggageHandler (AddDifyBaggage()) send a propagating session's app id on.
        return DifySession.Begin(appId, _propagateAsBaggage);
    }
}
