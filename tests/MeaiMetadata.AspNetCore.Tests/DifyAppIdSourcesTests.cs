using System.Security.Claims;
using MeaiMetadata.AspNetCore.Tests.TestDoubles;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace MeaiMetadata.AspNetCore.Tests;

public sealed class DifyAppIdSourcesTests
{
    private static string Describe(DifySession? session) => session?.AppId ?? "none";

    [Theory]
    [InlineData("app_id=support-bot", null, "support-bot")]
    [InlineData("name=alice;app_id=first;app_id=second", null, "first")]
    [InlineData("name=alice", null, "none")]                       // authenticated, without the claim
    [InlineData("name=alice", "app_id=forged", "none")]            // the claim only on an unauthenticated identity
    [InlineData(null, null, "none")]                               // not authenticated
    public async Task Claim_UseDifySessionAfterUseAuthentication_TakesTheAuthenticatedUsersClaim(string? user, string? unauthenticated, string expected)
    {
        await using TestApp app = await TestApp.StartAsync(
            a =>
            {
                a.UseAuthentication();
                a.UseDifySession(DifyAppIdSources.Claim("app_id"));
                a.MapGet("/", () => Describe(DifySession.Current));
            },
            b => b.Services.AddAuthentication(TestAuthenticationHandler.Name).AddScheme<AuthenticationSchemeOptions, TestAuthenticationHandler>(TestAuthenticationHandler.Name, null));

        using var request = new HttpRequestMessage(HttpMethod.Get, "");
        if (user is not null)
        {
            request.Headers.Add("X-Test-User", user);
        }

        if (unauthenticated is not null)
        {
            request.Headers.Add("X-Test-Unauthenticated", unauthenticated);
        }

        request.Headers.Add("app_id", "from-a-header"); // never read
        using HttpResponseMessage response = await app.Client.SendAsync(request);
        Assert.Equal(expected, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public void Claim_UnauthenticatedPrincipalWithTheClaim_IsNull()
    {
        var context = new DefaultHttpContext { User = new ClaimsPrincipal(new ClaimsIdentity([new Claim("app_id", "forged")])) };

        Assert.Null(DifyAppIdSources.Claim("app_id")(context));
    }

    [Theory]
    [InlineData("apps/support-bot/chat", "support-bot")]
    [InlineData("apps/42/chat", "42")]
    [InlineData("apps/caf%C3%A9/chat", "café")]
    [InlineData("other", "none")]
    public async Task RouteValue_WithDifySession_TakesTheRouteValue(string path, string expected)
    {
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.MapGet("/apps/{app}/chat", () => Describe(DifySession.Current)).WithDifySession(DifyAppIdSources.RouteValue("app"));
            a.MapGet("/other", () => Describe(DifySession.Current)).WithDifySession(DifyAppIdSources.RouteValue("app"));
        });

        Assert.Equal(expected, await app.Client.GetStringAsync(path));
    }

    [Fact]
    public void Sources_EmptyNames_Throw()
    {
        Assert.Throws<ArgumentException>(() => DifyAppIdSources.Claim(""));
        Assert.Throws<ArgumentNullException>(() => DifyAppIdSources.Claim(null!));
        Assert.Throws<ArgumentException>(() => DifyAppIdSources.RouteValue(""));
    }
}
