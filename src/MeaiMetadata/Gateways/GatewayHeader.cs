using System.Buffers;
using System.Text;
using System.Text.Json;
using MeaiMetadata.Tagging;

namespace MeaiMetadata.Gateways;

/// <summary>One entry of <see cref="DifyMetadataOptions.GatewayHeaders"/>, parsed and validated: a preset or a custom
/// header, and how it writes a <see cref="DifyRequestDecision"/> as header values.</summary>
internal sealed class GatewayHeader
{
    /// <summary>Portkey's limit for a metadata value, in characters.</summary>
    internal const int PortkeyMaxValueLength = 128;

    internal const string HeliconeAppIdHeader = "Helicone-Property-Dify-App-Id";
    internal const string HeliconeSourceHeader = "Helicone-Property-Dify-Source";
    internal const string PortkeyHeader = "x-portkey-metadata";
    internal const string CloudflareHeader = "cf-aig-metadata";
    internal const string LiteLLMHeader = "x-litellm-tags";

    private const int MaxCustomNameLength = 100;

    // Headers that carry credentials, framing or routing: a custom entry must never overwrite them.
    private static readonly HashSet<string> s_reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "Authorization", "Proxy-Authorization", "api-key", "Cookie", "Host", "Connection", "Keep-Alive", "Upgrade", "TE",
        "Trailer", "Transfer-Encoding", "Content-Length", "Content-Type", "Content-Encoding", "Expect", "Accept",
        "Accept-Encoding", "User-Agent", "OpenAI-Organization", "OpenAI-Project", "traceparent", "tracestate", "baggage",
        "Set-Cookie", "Forwarded", "Origin", "Referer", "Range", "If-Match", "If-None-Match",
    };

    // Parts of a name that mark credentials, gateway configuration or routing, whatever the vendor prefix
    // (Helicone-Auth, x-portkey-api-key, x-portkey-virtual-key, x-portkey-config, cf-aig-authorization, x-api-key,
    // x-goog-api-key, Helicone-Target-Url, X-Forwarded-For, ...): a custom entry must never overwrite those either.
    private static readonly string[] s_reservedParts =
        ["auth", "key", "token", "secret", "password", "credential", "cookie", "signature", "session", "config", "target", "forwarded",
         "proxy", "route", "base", "url", "host", "provider", "virtual", "cache", "fallback", "retry", "timeout", "real-ip", "method",
         "override", "beta", "stainless", "idempotency"];

    private readonly Kind _kind;
    private readonly DifyGatewayHeaderFormat _format;

    private GatewayHeader(Kind kind, string name, DifyGatewayHeaderFormat format, string[] headerNames)
    {
        _kind = kind;
        Name = name;
        _format = format;
        HeaderNames = headerNames;
    }

    private enum Kind
    {
        Helicone,
        Portkey,
        Cloudflare,
        LiteLLM,
        Custom,
    }

    /// <summary>Gets the entry as the operator wrote it (trimmed).</summary>
    public string Name { get; }

    /// <summary>Gets the names of the headers this entry writes.</summary>
    public string[] HeaderNames { get; }

    /// <summary>Parses the entries; returns why they are invalid, or <see langword="null"/>.</summary>
    public static string? TryParseAll(IList<string>? entries, out GatewayHeader[] headers)
    {
        headers = [];
        if (entries is null)
        {
            return $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.GatewayHeaders)} must not be null.";
        }

        var parsed = new List<GatewayHeader>(entries.Count);
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (string entry in entries)
        {
            if (TryParse(entry, out GatewayHeader? header) is { } error)
            {
                return $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.GatewayHeaders)}: {error}";
            }

            foreach (string headerName in header!.HeaderNames)
            {
                if (!names.Add(headerName))
                {
                    return $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.GatewayHeaders)}: the header '{headerName}' " +
                        $"is written by more than one entry ('{header.Name}' is one of them).";
                }
            }

            parsed.Add(header);
        }

        headers = [.. parsed];
        return null;
    }

    /// <summary>Parses one entry: a preset name, or <c>Header-Name: text|json|tags</c>.</summary>
    public static string? TryParse(string? entry, out GatewayHeader? header)
    {
        header = null;
        string text = entry?.Trim() ?? string.Empty;
        if (text.Length == 0)
        {
            return "an entry is empty.";
        }

        header = text.ToUpperInvariant() switch
        {
            "HELICONE" => new GatewayHeader(Kind.Helicone, text, DifyGatewayHeaderFormat.Text, [HeliconeAppIdHeader, HeliconeSourceHeader]),
            "PORTKEY" => new GatewayHeader(Kind.Portkey, text, DifyGatewayHeaderFormat.Json, [PortkeyHeader]),
            "CLOUDFLARE" => new GatewayHeader(Kind.Cloudflare, text, DifyGatewayHeaderFormat.Json, [CloudflareHeader]),
            "LITELLM" => new GatewayHeader(Kind.LiteLLM, text, DifyGatewayHeaderFormat.Tags, [LiteLLMHeader]),
            _ => null,
        };
        if (header is not null)
        {
            return null;
        }

        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return $"'{Shown(text)}' is neither a preset ({DifyGatewayPresets.Helicone}, {DifyGatewayPresets.Portkey}, " +
                $"{DifyGatewayPresets.Cloudflare}, {DifyGatewayPresets.LiteLLM}) nor a custom header 'Header-Name: text|json|tags'.";
        }

        string name = text[..colon].Trim();
        string formatText = text[(colon + 1)..].Trim();
        if (!IsToken(name) || name.Length > MaxCustomNameLength)
        {
            return $"'{Shown(name)}' is not a valid header name (1-{MaxCustomNameLength} characters of A-Z a-z 0-9 and !#$%&'*+-.^_`|~).";
        }

        if (s_reserved.Contains(name) || name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) ||
            s_reservedParts.Any(part => name.Contains(part, StringComparison.OrdinalIgnoreCase)))
        {
            return $"the header '{name}' carries credentials, framing, configuration or routing (or its name says so: auth, key, token, secret, config, target, forwarded, base, url, cache, retry, ...) and cannot be written by this layer.";
        }

        DifyGatewayHeaderFormat? format = formatText.ToUpperInvariant() switch
        {
            "TEXT" => DifyGatewayHeaderFormat.Text,
            "JSON" => DifyGatewayHeaderFormat.Json,
            "TAGS" => DifyGatewayHeaderFormat.Tags,
            _ => null,
        };
        if (format is null)
        {
            return $"the format '{Shown(formatText)}' of the header '{name}' is not one of text, json, tags.";
        }

        header = new GatewayHeader(Kind.Custom, text, format.Value, [name]);
        return null;
    }

    /// <summary>Adds the headers of <paramref name="decision"/> to <paramref name="values"/>: names as configured, values
    /// of printable ASCII only (0x20-0x7E, never starting or ending with a space).</summary>
    public void Write(DifyRequestDecision decision, List<KeyValuePair<string, string>> values)
    {
        switch (_kind)
        {
            case Kind.Helicone:
                values.Add(new(HeliconeAppIdHeader, PercentEncode(decision.AppId)));
                if (decision.Source is { } source)
                {
                    values.Add(new(HeliconeSourceHeader, PercentEncode(source)));
                }

                break;
            case Kind.Portkey:
                values.Add(new(PortkeyHeader, Json(decision, PortkeyMaxValueLength)));
                break;
            case Kind.Cloudflare:
                values.Add(new(CloudflareHeader, Json(decision, MetadataLimits.MaxValueLength)));
                break;
            case Kind.LiteLLM:
                values.Add(new(LiteLLMHeader, Tags(decision)));
                break;
            default:
                values.Add(new(HeaderNames[0], _format switch
                {
                    DifyGatewayHeaderFormat.Json => Json(decision, MetadataLimits.MaxValueLength),
                    DifyGatewayHeaderFormat.Tags => Tags(decision),
                    _ => PercentEncode(decision.AppId),
                }));
                break;
        }
    }

    /// <summary>RFC 3986 percent-encoding of the UTF-8 of <paramref name="value"/> (lone surrogates as U+FFFD).</summary>
    internal static string PercentEncode(string value) =>
        Uri.EscapeDataString(MetadataText.Normalize(value, MetadataLimits.MaxValueLength));

    /// <summary><c>{"dify_app_id":"…","dify_source":"…"}</c>, the app id first, each value cut to
    /// <paramref name="maxValueLength"/> characters (never between the halves of a pair); escaped to ASCII.</summary>
    internal static string Json(DifyRequestDecision decision, int maxValueLength)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + decision.AppId.Length);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            // The default encoder escapes everything outside printable ASCII, and quotes, backslashes and <>&'+ as well.
            writer.WriteStartObject();
            writer.WriteString(DifyMetadataKeys.AppId, MetadataText.Normalize(decision.AppId, maxValueLength));
            if (decision.Source is { } source)
            {
                writer.WriteString(DifyMetadataKeys.Source, MetadataText.Normalize(source, maxValueLength));
            }

            writer.WriteEndObject();
        }

        return Encoding.ASCII.GetString(buffer.WrittenSpan);
    }

    /// <summary><c>dify_app_id:&lt;id&gt;,dify_source:&lt;source&gt;</c>, each value percent-encoded (no comma, no space).</summary>
    internal static string Tags(DifyRequestDecision decision) =>
        decision.Source is { } source
            ? $"{DifyMetadataKeys.AppId}:{PercentEncode(decision.AppId)},{DifyMetadataKeys.Source}:{PercentEncode(source)}"
            : $"{DifyMetadataKeys.AppId}:{PercentEncode(decision.AppId)}";

    private static bool IsToken(string name)
    {
        if (name.Length == 0)
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The operator's text for an error message, cut and with control characters shown as '?'.</summary>
    private static string Shown(string text)
    {
        string cut = text.Length <= 80 ? text : string.Concat(text.AsSpan(0, 80), "…");
        return string.Create(cut.Length, cut, static (span, s) =>
        {
            for (int i = 0; i < s.Length; i++)
            {
                span[i] = char.IsControl(s[i]) ? '?' : s[i];
            }
        });
    }
}
