using System.Text.Json.Nodes;
using MeaiMetadata.Tagging;

namespace MeaiMetadata.Gateways;

/// <summary>One entry of <see cref="DifyMetadataOptions.GatewayHeaders"/>, parsed and validated: the headers it writes and
/// how it writes a call's app id as header values (printable ASCII only).</summary>
internal sealed class GatewayHeader(string name, string format)
{
    internal const int PortkeyMaxValueLength = 128;

    // Headers that carry credentials, framing, routing or a gateway's own controls: a custom entry never writes them.
    private static readonly string[] s_reserved =
    [
        "Authorization", "Proxy-Authorization", "api-key", "Cookie", "Host", "Connection", "Keep-Alive", "Upgrade", "TE", "Trailer",
        "Transfer-Encoding", "Expect", "Accept", "Accept-Encoding", "User-Agent", "OpenAI-Organization", "OpenAI-Project",
        "traceparent", "tracestate", "baggage", "Set-Cookie", "Forwarded", "Origin", "Referer", "Range", "If-Match", "If-None-Match",
        "Via", "Max-Forwards", "X-Client-IP", "True-Client-IP", "CF-Connecting-IP", "x-goog-user-project", "Helicone-RateLimit-Policy",
    ];

    private static readonly string[] s_reservedPrefixes = ["Content-", "cf-aig-", "Helicone-Omit-", "x-portkey-"];

    // Parts of a name that mark credentials, configuration or routing, whatever the vendor prefix.
    private static readonly string[] s_reservedParts =
    [
        "auth", "key", "token", "secret", "password", "credential", "cookie", "signature", "session", "config", "target", "forwarded",
        "proxy", "route", "base", "url", "host", "provider", "virtual", "cache", "fallback", "retry", "timeout", "real-ip", "method",
        "override", "beta", "stainless", "idempotency", "policy", "omit",
    ];

    /// <summary>Gets the header this entry writes (Helicone writes a second one, for the source).</summary>
    public string Name { get; } = name;

    private string Format { get; } = format; // "text", "json", "tags", or a preset's name

    /// <summary>Parses the entries; returns why they are invalid (naming the entry), or <see langword="null"/>.</summary>
    public static string? TryParseAll(IList<string>? entries, IList<string>? prefixes, out GatewayHeader[] headers)
    {
        const string Option = $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.GatewayHeaders)}";
        headers = [];
        foreach (string? prefix in prefixes ?? [])
        {
            if (string.IsNullOrWhiteSpace(prefix) || !IsToken(prefix) || IsReserved(prefix))
            {
                return $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.GatewayHeaderPrefixes)}: '{Shown(prefix ?? "")}' is not a prefix a " +
                    "gateway reads attribution from (a header-name prefix such as 'Helicone-Property-', never one of credentials, routing or a gateway's own controls).";
            }
        }

        var parsed = new List<GatewayHeader>();
        foreach (string? entry in entries ?? [])
        {
            if (TryParse(entry, prefixes, out GatewayHeader? header) is { } error)
            {
                return $"{Option}: {error}";
            }

            if (parsed.Any(p => string.Equals(p.Name, header!.Name, StringComparison.OrdinalIgnoreCase)))
            {
                return $"{Option}: the header '{header!.Name}' is written by more than one entry.";
            }

            parsed.Add(header!);
        }

        headers = [.. parsed];
        return null;
    }

    /// <summary>Parses one entry: a preset name, or <c>Header-Name: text|json|tags</c>; returns why it is invalid, or <see langword="null"/>.</summary>
    public static string? TryParse(string? entry, IList<string>? prefixes, out GatewayHeader? header)
    {
        string text = entry?.Trim() ?? "";
        if (text.Length == 0)
        {
            header = null;
            return "an entry is empty.";
        }

        header = text.ToUpperInvariant() switch
        {
            "HELICONE" => new("Helicone-Property-Dify-App-Id", "helicone"),
            "PORTKEY" => new("x-portkey-metadata", "portkey"),
            "CLOUDFLARE" => new("cf-aig-metadata", "json"),
            "LITELLM" => new("x-litellm-tags", "tags"),
            _ => null,
        };
        if (header is not null)
        {
            return null;
        }

        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return $"'{Shown(text)}' is neither a preset (Helicone, Portkey, Cloudflare, LiteLLM) nor a custom header 'Header-Name: text|json|tags'.";
        }

        string name = text[..colon].Trim(), format = text[(colon + 1)..].Trim().ToLowerInvariant();
        if (name.Length is 0 or > 100 || !IsToken(name))
        {
            return $"'{Shown(name)}' is not a valid header name (1-100 characters of A-Z a-z 0-9 and !#$%&'*+-.^_`|~).";
        }

        if (IsReserved(name))
        {
            return $"the header '{name}' carries credentials, framing, routing or a gateway's own controls and cannot be written by this layer.";
        }

        // An allowlist: a custom header is one of the attribution headers the operator declared for the gateway.
        if (!(prefixes ?? []).Any(p => name.Length > p.Length && name.StartsWith(p, StringComparison.OrdinalIgnoreCase)))
        {
            return $"the header '{name}' does not start with a prefix of {nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.GatewayHeaderPrefixes)}: " +
                "declare the prefix the gateway reads attribution from (for example 'Helicone-Property-').";
        }

        if (format is not ("text" or "json" or "tags"))
        {
            return $"the format '{Shown(format)}' of the header '{name}' is not one of text, json, tags.";
        }

        header = new GatewayHeader(name, format);
        return null;
    }

    /// <summary>Returns the headers <paramref name="headers"/> write for <paramref name="call"/>.</summary>
    public static List<KeyValuePair<string, string>> ValuesOf(DifyRequestDecision call, GatewayHeader[] headers)
    {
        var values = new List<KeyValuePair<string, string>>(headers.Length + 1);
        foreach (GatewayHeader header in headers)
        {
            values.Add(new(header.Name, header.Format switch
            {
                "portkey" => Json(call, PortkeyMaxValueLength),
                "json" => Json(call, WireMetadata.MaxValueLength),
                "tags" => Tags(call),
                _ => PercentEncode(call.AppId), // "text" and Helicone
            }));
            if (header.Format == "helicone" && call.Source is { } source)
            {
                values.Add(new("Helicone-Property-Dify-Source", PercentEncode(source)));
            }
        }

        return values;
    }

    /// <summary>RFC 3986 percent-encoding of the UTF-8 of <paramref name="value"/> (lone surrogates as U+FFFD).</summary>
    internal static string PercentEncode(string value) => Uri.EscapeDataString(WireMetadata.Normalize(value, WireMetadata.MaxValueLength));

    /// <summary><c>{"dify_app_id":"…","dify_source":"…"}</c>, each value cut to <paramref name="maxValueLength"/>, escaped to ASCII.</summary>
    internal static string Json(DifyRequestDecision call, int maxValueLength)
    {
        var json = new JsonObject { [DifyMetadataKeys.AppId] = WireMetadata.Normalize(call.AppId, maxValueLength) };
        if (call.Source is { } source)
        {
            json[DifyMetadataKeys.Source] = WireMetadata.Normalize(source, maxValueLength);
        }

        return json.ToJsonString();
    }

    /// <summary><c>dify_app_id:&lt;id&gt;,dify_source:&lt;source&gt;</c>, each value percent-encoded.</summary>
    internal static string Tags(DifyRequestDecision call) =>
        call.Source is { } source
            ? $"{DifyMetadataKeys.AppId}:{PercentEncode(call.AppId)},{DifyMetadataKeys.Source}:{PercentEncode(source)}"
            : $"{DifyMetadataKeys.AppId}:{PercentEncode(call.AppId)}";

    private static bool IsToken(string name) => name.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal));

    private static bool IsReserved(string name) =>
        s_reserved.Contains(name, StringComparer.OrdinalIgnoreCase) ||
        s_reservedPrefixes.Any(p => name.StartsWith(p, StringComparison.OrdinalIgnoreCase)) ||
        s_reservedParts.Any(p => name.Contains(p, StringComparison.OrdinalIgnoreCase));

    private static string Shown(string text) =>
        new((text.Length <= 80 ? text : text[..80] + "…").Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
