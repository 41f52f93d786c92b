using Microsoft.AspNetCore.Builder;
using System.Net;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;

namespace MeaiMetadata.AspNetCore;

/// <summary>Predicates for <see cref="DifyBaggageTrustApplicationBuilderExtensions.UseDifyBaggageTrust(Microsoft.AspNetCore.Builder.IApplicationBuilder, Func{HttpContext, bool})"/>:
/// which callers may choose the app id through W3C Baggage.</summary>
public static class DifyTrustedCallers
{
    /// <summary>Trusts callers whose remote IP address (<c>HttpContext.Connection.RemoteIpAddress</c>) is in any of
    /// <paramref name="cidrs"/>.</summary>
    /// <param name="cidrs">Networks in CIDR notation: <c>"10.0.0.0/8"</c>, <c>"fd00::/8"</c>, <c>"192.168.1.7/32"</c>.</param>
    /// <returns>The predicate.</returns>
    /// <remarks>
    /// <para>An IPv4 address mapped to IPv6 (<c>::ffff:10.1.2.3</c>, as a dual-mode socket reports IPv4 peers) matches the
    /// IPv4 networks, and an IPv4 address matches IPv6 networks of mapped addresses. A request without a remote address is
    /// not trusted.</para>
    /// <para>The remote address is the TCP peer unless <c>UseForwardedHeaders()</c> ran before and replaced it. Behind a
    /// reverse proxy the peer is the proxy: trusting its network trusts everyone it forwards, so either the proxy strips
    /// <c>baggage</c> itself, or <c>UseForwardedHeaders()</c> (with its known proxies) runs before
    /// <c>UseDifyBaggageTrust</c>.</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="cidrs"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="cidrs"/> is empty, or one of them is not a network in CIDR
    /// notation (the message names it).</exception>
    public static Func<HttpContext, bool> Networks(params string[] cidrs)
    {
        ArgumentNullException.ThrowIfNull(cidrs);
        if (cidrs.Length == 0)
        {
            throw new ArgumentException("At least one network is needed.", nameof(cidrs));
        }

        var networks = new IPNetwork[cidrs.Length];
        for (int i = 0; i < cidrs.Length; i++)
        {
            if (cidrs[i] is not { } cidr || !TryParse(cidr.AsSpan().Trim(), out networks[i]))
            {
                throw new ArgumentException($"'{cidrs[i]}' is not a network in CIDR notation (such as 10.0.0.0/8 or fd00::/8, with no host bits set).", nameof(cidrs));
            }
        }

        return context => context.Connection.RemoteIpAddress is { } address && Contains(networks, address);
    }

    /// <summary>Trusts callers that presented a TLS client certificate that <paramref name="isTrusted"/> accepts.</summary>
    /// <param name="isTrusted">Decides on the certificate (its thumbprint, issuer, chain); called only when there is one.</param>
    /// <returns>The predicate.</returns>
    /// <remarks>Kestrel asks for client certificates only when configured to (<c>ClientCertificateMode</c>), and accepts the
    /// ones its validation accepts: check here what identifies your services, not just that there is a certificate. A request
    /// without a client certificate is not trusted.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="isTrusted"/> is <see langword="null"/>.</exception>
    public static Func<HttpContext, bool> ClientCertificate(Func<X509Certificate2, bool> isTrusted)
    {
        ArgumentNullException.ThrowIfNull(isTrusted);
        return context => context.Connection.ClientCertificate is { } certificate && isTrusted(certificate);
    }

    /// <summary>Trusts callers authenticated with an identity that has a claim of type <paramref name="claimType"/> and the
    /// value <paramref name="value"/> (compared ordinally).</summary>
    /// <param name="claimType">The claim type, for example <c>"role"</c> or <c>"azp"</c>.</param>
    /// <param name="value">The value that marks a trusted service, for example <c>"gateway"</c>.</param>
    /// <returns>The predicate.</returns>
    /// <remarks>Only an authenticated user counts (<c>User.Identity.IsAuthenticated</c>), and of its identities only those that
    /// are themselves authenticated. The user is set by authentication: add
    /// <c>UseAuthentication()</c> before <c>UseDifyBaggageTrust</c> when you use this predicate.</remarks>
    /// <exception cref="ArgumentException"><paramref name="claimType"/> or <paramref name="value"/> is <see langword="null"/> or empty.</exception>
    public static Func<HttpContext, bool> AuthenticatedService(string claimType, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(claimType);
        ArgumentException.ThrowIfNullOrEmpty(value);
        return context =>
        {
            if (context.User.Identity?.IsAuthenticated != true)
            {
                return false; // like DifyAppIdSources.Claim: an unauthenticated user trusts nothing
            }

            foreach (ClaimsIdentity identity in context.User.Identities)
            {
                if (identity.IsAuthenticated && identity.HasClaim(c => c.Type == claimType && string.Equals(c.Value, value, StringComparison.Ordinal)))
                {
                    return true;
                }
            }

            return false;
        };
    }

    /// <summary>Parses a network in CIDR notation, refusing host bits (<c>10.0.0.1/8</c>): whoever wrote it meant either a
    /// host or a network, and guessing would trust too many or too few.</summary>
    private static bool TryParse(ReadOnlySpan<char> cidr, out IPNetwork network)
    {
        network = default;
        int slash = cidr.IndexOf('/');
        return slash > 0
            && IPNetwork.TryParse(cidr, out network)
            && IPAddress.TryParse(cidr[..slash], out IPAddress? address)
            && IsPlainAddressText(cidr[..slash], address)
            && address.Equals(network.BaseAddress);
    }

    /// <summary>Whether <paramref name="text"/> is an address as people write it: IPv4 as four decimal numbers without
    /// leading zeros (the parser also reads <c>010.0.0.0</c> as octal 8.0.0.0, <c>0x0a.0.0.0</c>, <c>167772160</c> and
    /// <c>10.0</c>, legacy forms whose meaning a reader would guess wrong), IPv6 without a zone id.</summary>
    private static bool IsPlainAddressText(ReadOnlySpan<char> text, IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? text.Contains(':') && !text.Contains('%')
            : text.SequenceEqual(address.ToString());

    private static bool Contains(IPNetwork[] networks, IPAddress address)
    {
        IPAddress? other = address.IsIPv4MappedToIPv6 ? address.MapToIPv4()
            : address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? address.MapToIPv6()
            : null;
        foreach (IPNetwork network in networks)
        {
            if (InNetwork(network, address) || (other is not null && InNetwork(network, other)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether the first <see cref="IPNetwork.PrefixLength"/> bits of <paramref name="address"/> are the network's,
    /// compared as the bytes they are: <see cref="IPNetwork.Contains"/> also takes an IPv4-mapped address (<c>::ffff:10.1.2.3</c>)
    /// into an IPv4-compatible network (<c>::10.0.0.0/104</c>), another range.</summary>
    private static bool InNetwork(IPNetwork network, IPAddress address)
    {
        if (network.BaseAddress.AddressFamily != address.AddressFamily)
        {
            return false;
        }

        Span<byte> prefix = stackalloc byte[16], bytes = stackalloc byte[16];
        _ = network.BaseAddress.TryWriteBytes(prefix, out int length);
        _ = address.TryWriteBytes(bytes, out _);
        int bits = network.PrefixLength, whole = bits / 8;
        if (!prefix[..whole].SequenceEqual(bytes[..whole]))
        {
            return false;
        }

        int rest = bits % 8;
        return rest == 0 || whole >= length || ((prefix[whole] ^ bytes[whole]) & (0xFF << (8 - rest)) & 0xFF) == 0;
    }
}
