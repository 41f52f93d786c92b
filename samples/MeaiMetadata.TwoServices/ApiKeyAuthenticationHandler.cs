using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MeaiMetadata.TwoServices;

/// <summary>The settings of an <see cref="ApiKeyAuthenticationHandler"/> scheme: which header carries the key, and what each
/// key stands for.</summary>
public sealed class ApiKeyAuthenticationOptions : AuthenticationSchemeOptions
{
    /// <summary>Gets or sets the request header that carries the key.</summary>
    /// <value>The default value is <c>X-Api-Key</c>.</value>
    public string HeaderName { get; set; } = "X-Api-Key";

    /// <summary>Gets or sets the claim type the key's value becomes.</summary>
    /// <value>The default value is <c>app_id</c>.</value>
    public string ClaimType { get; set; } = "app_id";

    /// <summary>Gets the accepted keys, each mapped to the value of <see cref="ClaimType"/> it authenticates (an app id, a
    /// service name). Keys compare ordinally.</summary>
    public IDictionary<string, string> Keys { get; } = new Dictionary<string, string>(StringComparer.Ordinal);
}

/// <summary>Authenticates a request by the API key in one header: a known key signs the caller in with one claim (its app id,
/// or its service name); no header is no result (anonymous), an unknown key, or several, fail.</summary>
public sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<ApiKeyAuthenticationOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<ApiKeyAuthenticationOptions>(options, logger, encoder)
{
    /// <inheritdoc />
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue(Options.HeaderName, out Microsoft.Extensions.Primitives.StringValues presented))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (presented.Count != 1 || presented[0] is not { Length: > 0 } key || !Options.Keys.TryGetValue(key, out string? value) || value.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.Fail($"Invalid {Options.HeaderName}."));
        }

        var identity = new ClaimsIdentity([new Claim(Options.ClaimType, value), new Claim(ClaimTypes.Name, value)], Scheme.Name);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name)));
    }
}
