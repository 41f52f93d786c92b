using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MeaiMetadata.AspNetCore.Tests.TestDoubles;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace MeaiMetadata.AspNetCore.Tests;

public sealed class DifyTrustedCallersTests
{
    /// <summary>An app on real Kestrel whose endpoint answers what <paramref name="predicate"/> says of the request.</summary>
    private static Task<TestApp> StartAsync(Func<HttpContext, bool> predicate, IPAddress? address = null) =>
        TestApp.StartAsync(a => a.MapGet("/", (HttpContext c) => predicate(c) ? "trusted" : "untrusted"), null, address ?? IPAddress.Loopback, null, null);

    [Theory]
    [InlineData("127.0.0.0/8", "trusted")]
    [InlineData("127.0.0.1/32", "trusted")]
    [InlineData("10.0.0.0/8", "untrusted")]
    [InlineData("::1/128", "untrusted")]
    [InlineData("::ffff:127.0.0.0/104", "trusted")] // an IPv4 peer matches a network of IPv4-mapped addresses
    public async Task Networks_IPv4Caller_OnKestrel(string cidr, string expected)
    {
        await using TestApp app = await StartAsync(DifyTrustedCallers.Networks("192.0.2.0/24", cidr));

        Assert.Equal(expected, await app.Client.GetStringAsync(""));
    }

    [Theory]
    [InlineData("::1/128", "trusted")]
    [InlineData("::/0", "trusted")]
    [InlineData("fd00::/8", "untrusted")]
    [InlineData("127.0.0.0/8", "untrusted")]
    public async Task Networks_IPv6Caller_OnKestrel(string cidr, string expected)
    {
        await using TestApp app = await StartAsync(DifyTrustedCallers.Networks(cidr), IPAddress.IPv6Loopback);

        Assert.Equal(expected, await app.Client.GetStringAsync(""));
    }

    [Theory]
    [InlineData("::ffff:10.1.2.3", "10.0.0.0/8", true)]    // a dual-mode socket's IPv4 peer
    [InlineData("::ffff:10.1.2.3", "11.0.0.0/8", false)]
    [InlineData("::ffff:10.1.2.3", "::ffff:10.0.0.0/104", true)]
    [InlineData("10.1.2.3", "::ffff:10.0.0.0/104", true)]
    [InlineData("10.1.2.3", "10.1.2.3/32", true)]
    [InlineData("10.1.2.4", "10.1.2.3/32", false)]
    [InlineData("2001:db8::5", "2001:db8::/32", true)]
    [InlineData("2001:db9::5", "2001:db8::/32", false)]
    [InlineData("::a01:203", "10.0.0.0/8", false)]          // IPv4-compatible (not mapped) is another address
    [InlineData("10.1.2.3", "::10.0.0.0/104", false)]      // an IPv4-compatible network is not the mapped one
    [InlineData("::ffff:10.1.2.3", "::10.0.0.0/104", false)]
    [InlineData("::a01:203", "::10.0.0.0/104", true)]
    [InlineData("10.1.2.3", "10.1.2.0/25", true)]
    [InlineData("10.1.2.200", "10.1.2.0/25", false)]
    [InlineData("2001:db8:8000::1", "2001:db8:8000::/33", true)]
    [InlineData("2001:db8::1", "2001:db8:8000::/33", false)]
    public void Networks_AddressForms(string remote, string cidr, bool expected)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);

        Assert.Equal(expected, DifyTrustedCallers.Networks(cidr)(context));
    }

    [Fact]
    public void Networks_NoRemoteAddress_Untrusted()
    {
        Assert.False(DifyTrustedCallers.Networks("0.0.0.0/0", "::/0")(new DefaultHttpContext()));
    }

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("not-an-ip")]
    [InlineData("10.0.0.1/8")] // host bits set
    [InlineData("10.0.0.0")]
    [InlineData("fd00::/129")]
    [InlineData("")]
    [InlineData("010.0.0.0/8")]   // the parser reads a leading zero as octal: 8.0.0.0/8
    [InlineData("0x0a.0.0.0/8")]
    [InlineData("167772160/8")]
    [InlineData("10.0/8")]
    [InlineData("fe80::%1/64")]   // a zone id
    public void Networks_BadCidr_ArgumentExceptionNamingIt(string bad)
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => DifyTrustedCallers.Networks("10.0.0.0/8", bad));

        Assert.Contains($"'{bad}'", error.Message, StringComparison.Ordinal);
        Assert.Equal("cidrs", error.ParamName);
    }

    [Fact]
    public void Networks_NullOrNone_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => DifyTrustedCallers.Networks(null!));
        Assert.Equal("cidrs", Assert.Throws<ArgumentException>(() => DifyTrustedCallers.Networks()).ParamName);
        Assert.Contains("''", Assert.Throws<ArgumentException>(() => DifyTrustedCallers.Networks([null!])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientCertificate_OnKestrelWithTls_TrustsOnlyTheCertificateThePredicateAccepts()
    {
        using X509Certificate2 server = Certificate("CN=localhost", serverAuth: true);
        using X509Certificate2 gateway = Certificate("CN=gateway", serverAuth: false);
        using X509Certificate2 stranger = Certificate("CN=stranger", serverAuth: false);
        Func<HttpContext, bool> predicate = DifyTrustedCallers.ClientCertificate(c => c.Thumbprint == gateway.Thumbprint);
        await using TestApp app = await TestApp.StartAsync(
            a => a.MapGet("/", (HttpContext c) => predicate(c) ? "trusted" : "untrusted"),
            null,
            IPAddress.Loopback,
            listen => listen.UseHttps(server, https =>
            {
                https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                https.AllowAnyClientCertificate();
            }),
            null);
        var https = new UriBuilder(app.Address) { Scheme = "https" }.Uri;

        Assert.Equal("trusted", await GetAsync(https, server, gateway));
        Assert.Equal("untrusted", await GetAsync(https, server, stranger));
        Assert.Equal("untrusted", await GetAsync(https, server, null));
    }

    [Fact]
    public void ClientCertificate_Null_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => DifyTrustedCallers.ClientCertificate(null!));
    }

    [Theory]
    [InlineData("role=gateway", null, "trusted")]
    [InlineData("role=user;name=gateway", null, "untrusted")]
    [InlineData("role=Gateway", null, "untrusted")]      // values compare ordinally
    [InlineData("name=x", "role=gateway", "untrusted")]  // the claim on an unauthenticated identity does not count
    [InlineData(null, null, "untrusted")]                // not authenticated
    public async Task AuthenticatedService_OnKestrelWithAuthentication(string? user, string? unauthenticated, string expected)
    {
        Func<HttpContext, bool> predicate = DifyTrustedCallers.AuthenticatedService("role", "gateway");
        await using TestApp app = await TestApp.StartAsync(
            a =>
            {
                a.UseAuthentication();
                a.MapGet("/", (HttpContext c) => predicate(c) ? "trusted" : "untrusted");
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

        using HttpResponseMessage response = await app.Client.SendAsync(request);
        Assert.Equal(expected, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public void AuthenticatedService_EmptyArguments_Throw()
    {
        Assert.Throws<ArgumentException>(() => DifyTrustedCallers.AuthenticatedService("", "v"));
        Assert.Throws<ArgumentException>(() => DifyTrustedCallers.AuthenticatedService("t", ""));
        Assert.Throws<ArgumentNullException>(() => DifyTrustedCallers.AuthenticatedService(null!, "v"));
    }

    [Fact]
    public void AuthenticatedService_UnauthenticatedPrimaryIdentity_AuthenticatedSecondOneWithTheClaim_Untrusted()
    {
        var user = new ClaimsPrincipal(new ClaimsIdentity());
        user.AddIdentity(new ClaimsIdentity([new Claim("role", "gateway")], "secondary"));
        var context = new DefaultHttpContext { User = user };

        Assert.False(DifyTrustedCallers.AuthenticatedService("role", "gateway")(context));
    }

    [Fact]
    public void AuthenticatedService_UnauthenticatedPrincipalWithTheClaim_Untrusted()
    {
        var context = new DefaultHttpContext { User = new ClaimsPrincipal(new ClaimsIdentity([new Claim("role", "gateway")])) };

        Assert.False(DifyTrustedCallers.AuthenticatedService("role", "gateway")(context));
    }

    private static async Task<string> GetAsync(Uri address, X509Certificate2 server, X509Certificate2? clientCertificate)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == server.Thumbprint; // the test's self-signed server
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }

        using var http = new HttpClient(handler);
        return await http.GetStringAsync(address);
    }

    private static X509Certificate2 Certificate(string subject, bool serverAuth)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (serverAuth)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
        }

        using X509Certificate2 created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null); // a key TLS can use on every platform
    }
}
