using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace MeaiMetadata.AspNetCore;

/// <summary>App id lookups for <see cref="DifySessionOptions.AppId"/> from the common sources of a request.</summary>
/// <remarks>
/// There is deliberately no lookup from a request header: any client can send any header, and so choose whom its usage is
/// attributed to. Authenticate the caller and take the app id from its identity.
/// </remarks>
public static class DifyAppIdSources
{
    /// <summary>The value of the first claim of type <paramref name="claimType"/> of an authenticated identity of the request's
    /// user, or <see langword="null"/> when <c>User.Identity.IsAuthenticated</c> is <see langword="false"/>.</summary>
    /// <param name="claimType">The claim type, for example <c>"app_id"</c>.</param>
    /// <returns>The lookup.</returns>
    /// <remarks>Only identities that are themselves authenticated are searched, so a claim on an unauthenticated identity
    /// added beside the authenticated one never counts. Add <c>UseAuthentication()</c> before the middleware that uses it.</remarks>
    /// <exception cref="ArgumentException"><paramref name="claimType"/> is <see langword="null"/> or empty.</exception>
    public static Func<HttpContext, string?> Claim(string claimType)
    {
        ArgumentException.ThrowIfNullOrEmpty(claimType);
        return context =>
        {
            ClaimsPrincipal user = context.User;
            if (user.Identity is not { IsAuthenticated: true })
            {
                return null;
            }

            foreach (ClaimsIdentity identity in user.Identities)
            {
                if (identity.IsAuthenticated && identity.FindFirst(claimType) is { } claim)
                {
                    return claim.Value;
                }
            }

            return null;
        };
    }

    /// <summary>The route value <paramref name="name"/> of the request (<c>/apps/{appId}/chat</c>), formatted with the
    /// invariant culture, or <see langword="null"/> when the route has none.</summary>
    /// <param name="name">The name of the route parameter.</param>
    /// <returns>The lookup.</returns>
    /// <remarks>The client chooses the URL: use it only on endpoints whose authorization checks that the caller may act for
    /// the app in the route. Route values exist once routing has run: in <c>WithDifySession</c> always; for
    /// <c>UseDifySession</c>, add it after <c>UseRouting()</c> (a <c>WebApplication</c> runs routing first).</remarks>
    /// <exception cref="ArgumentException"><paramref name="name"/> is <see langword="null"/> or empty.</exception>
    public static Func<HttpContext, string?> RouteValue(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return context => Convert.ToString(context.GetRouteValue(name), CultureInfo.InvariantCulture);
    }
}
