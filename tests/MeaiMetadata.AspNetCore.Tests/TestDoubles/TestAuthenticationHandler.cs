using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MeaiMetadata.AspNetCore.Tests.TestDoubles;

/// <summary>A test-only authentication scheme: <c>X-Test-User: type=value;type=value</c> authenticates a user with those
/// claims; <c>X-Test-Unauthenticated: type=value</c> adds a second, unauthenticated identity carrying those claims.</summary>
public sealed class TestAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string Name = "Test";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue("X-Test-User", out var user))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var identities = new List<ClaimsIdentity> { new(Claims(user.ToString()), Name) };
        if (Request.Headers.TryGetValue("X-Test-Unauthenticated", out var other))
        {
            identities.Add(new ClaimsIdentity(Claims(other.ToString()))); // no authentication type: not authenticated
        }

        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identities), Name)));
    }

    private static IEnumerable<Claim> Claims(string spec) =>
        spec.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(pair => pair.Split('=', 2)).Select(p => new Claim(p[0], p[1]));
}
