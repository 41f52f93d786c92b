using MeaiMetadata.Gateways;
using MeaiMetadata.Tests.TestDoubles;

namespace MeaiMetadata.Tests.Gateways;

public class GatewayHeaderTests
{
    // The attribution prefixes the tests' custom headers are declared under (DifyMetadataOptions.GatewayHeaderPrefixes).
    private static readonly string[] s_prefixes = ["X-", "Helicone-Property-"];

    [Theory]
    [InlineData("Helicone-Property-Tenant: text", null)]
    [InlineData("Litellm-Team: tags", "does not start with a prefix")]
    [InlineData("Helicone-Property-: text", "does not start with a prefix")] // the prefix alone names no header
    [InlineData("Helicone-Omit-Request: text", "controls")]
    [InlineData("Helicone-RateLimit-Policy: text", "controls")]
    [InlineData("cf-aig-cache-ttl: text", "controls")]
    [InlineData("X-Client-IP: text", "controls")]
    [InlineData("True-Client-IP: text", "controls")]
    [InlineData("CF-Connecting-IP: text", "controls")]
    [InlineData("x-goog-user-project: text", "controls")]
    public void CustomHeaders_AreAllowedOnlyUnderADeclaredPrefix_NeverAControlHeader(string entry, string? refused)
    {
        string? error = GatewayHeader.TryParseAll([entry], ["Helicone-Property-", "X-", "cf-", "True-", "x-goog-"], out _);

        if (refused is null)
        {
            Assert.Null(error);
        }
        else
        {
            Assert.Contains(refused, error, StringComparison.Ordinal);
            Assert.Contains(entry[..entry.IndexOf(':', StringComparison.Ordinal)], error, StringComparison.Ordinal); // names the header
        }
    }

    [Theory]
    [InlineData("cf-aig-")]
    [InlineData("Authorization")]
    [InlineData("x-portkey-")]
    [InlineData("")]
    public void ADeclaredPrefixThatIsAControlHeader_IsRefused(string prefix) =>
        Assert.Contains("GatewayHeaderPrefixes", GatewayHeader.TryParseAll(["Helicone"], [prefix], out _), StringComparison.Ordinal);

    private static Dictionary<string, string> Written(string entry, DifyRequestDecision decision)
    {
        Assert.Null(GatewayHeader.TryParse(entry, s_prefixes, out GatewayHeader? header));
        return GatewayHeader.ValuesOf(decision, [header!]).ToDictionary(v => v.Key, v => v.Value, StringComparer.OrdinalIgnoreCase);
    }

    [Fact]
    public void Presets_WriteTheDocumentedHeaders()
    {
        DifyRequestDecision decision = Decisions.Of("support-bot");

        Assert.Equal(
            new Dictionary<string, string> { ["Helicone-Property-Dify-App-Id"] = "support-bot", ["Helicone-Property-Dify-Source"] = "dify" },
            Written("Helicone", decision));
        Assert.Equal("""{"dify_app_id":"support-bot","dify_source":"dify"}""", Written("portkey", decision)["x-portkey-metadata"]);
        Assert.Equal("""{"dify_app_id":"support-bot","dify_source":"dify"}""", Written("CLOUDFLARE", decision)["cf-aig-metadata"]);
        Assert.Equal("dify_app_id:support-bot,dify_source:dify", Written("LiteLLM", decision)["x-litellm-tags"]);
    }

    [Fact]
    public void NoSource_WritesTheAppIdAlone()
    {
        DifyRequestDecision decision = Decisions.Of("a", source: null);

        Assert.Equal(["Helicone-Property-Dify-App-Id"], Written("Helicone", decision).Keys);
        Assert.Equal("""{"dify_app_id":"a"}""", Written("Portkey", decision)["x-portkey-metadata"]);
        Assert.Equal("dify_app_id:a", Written("LiteLLM", decision)["x-litellm-tags"]);
    }

    [Fact]
    public void HostileId_IsEscapedNeverSentRaw()
    {
        DifyRequestDecision decision = Decisions.Of("a\r\nX-Evil: 1\0\"b\",c é🚀");

        Assert.Equal("a%0D%0AX-Evil%3A%201%00%22b%22%2Cc%20%C3%A9%F0%9F%9A%80", Written("Helicone", decision)["Helicone-Property-Dify-App-Id"]);
        Assert.Equal(
            """{"dify_app_id":"a\r\nX-Evil: 1\u0000\u0022b\u0022,c \u00E9\uD83D\uDE80","dify_source":"dify"}""",
            Written("Cloudflare", decision)["cf-aig-metadata"]);
        Assert.Equal("dify_app_id:a%0D%0AX-Evil%3A%201%00%22b%22%2Cc%20%C3%A9%F0%9F%9A%80,dify_source:dify", Written("LiteLLM", decision)["x-litellm-tags"]);
    }

    [Fact]
    public void Portkey_CutsEachValueTo128_NeverBetweenTheHalvesOfAPair()
    {
        string id = new string('a', 127) + "🚀" + new string('b', 10);
        string json = Written("Portkey", Decisions.Of(id, source: new string('s', 300)))["x-portkey-metadata"];

        using var parsed = System.Text.Json.JsonDocument.Parse(json);
        Assert.Equal(new string('a', 127), parsed.RootElement.GetProperty("dify_app_id").GetString());
        Assert.Equal(new string('s', 128), parsed.RootElement.GetProperty("dify_source").GetString());
    }

    [Fact]
    public void Cloudflare_PutsTheAppIdFirst_WithinTheFiveEntriesKept()
    {
        using var parsed = System.Text.Json.JsonDocument.Parse(Written("Cloudflare", Decisions.Of("x"))["cf-aig-metadata"]);

        Assert.Equal(["dify_app_id", "dify_source"], parsed.RootElement.EnumerateObject().Select(p => p.Name));
    }

    [Theory]
    [InlineData("X-App: text", "X-App", "a%20b")]
    [InlineData(" X-App :JSON ", "X-App", """{"dify_app_id":"a b","dify_source":"dify"}""")]
    [InlineData("x-tags: tags", "x-tags", "dify_app_id:a%20b,dify_source:dify")]
    public void Custom_WritesItsNameWithItsFormat(string entry, string name, string value) =>
        Assert.Equal(value, Written(entry, Decisions.Of("a b"))[name]);

    [Theory]
    [InlineData("", "empty")]
    [InlineData("Nope", "'Nope' is neither a preset")]
    [InlineData("X App: text", "not a valid header name")]
    [InlineData(": text", "not a valid header name")]
    [InlineData("X-App: xml", "'xml'")]
    [InlineData("Authorization: text", "credentials")]
    [InlineData("content-type: json", "credentials")]
    [InlineData("Content-Disposition: json", "credentials")]
    [InlineData("X-\r\nEvil: text", "not a valid header name")]
    [InlineData("Helicone-Auth: text", "credentials")]
    [InlineData("x-portkey-api-key: text", "credentials")]
    [InlineData("x-portkey-virtual-key: json", "credentials")]
    [InlineData("x-portkey-config: json", "credentials")]
    [InlineData("cf-aig-authorization: text", "credentials")]
    [InlineData("x-api-key: text", "credentials")]
    [InlineData("x-goog-api-key: text", "credentials")]
    [InlineData("Helicone-Target-Url: text", "credentials")]
    [InlineData("Set-Cookie: text", "credentials")]
    [InlineData("X-Forwarded-For: text", "credentials")]
    public void InvalidEntries_AreRefusedWithAReason(string entry, string reason)
    {
        string? error = GatewayHeader.TryParse(entry, s_prefixes, out GatewayHeader? header);

        Assert.Null(header);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TwoEntriesWritingOneHeader_AreRefused()
    {
        string? error = GatewayHeader.TryParseAll(["Portkey", "X-PORTKEY-METADATA: text"], s_prefixes, out GatewayHeader[] headers);

        Assert.Contains("x-portkey-metadata", error, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("GatewayHeaders", error, StringComparison.Ordinal);
        Assert.Empty(headers);
    }

    [Fact]
    public void SeveralPresets_ParseInOrder()
    {
        Assert.Null(GatewayHeader.TryParseAll(["Helicone", "Portkey", "Cloudflare", "LiteLLM", "X-App: text"], s_prefixes, out GatewayHeader[] headers));

        Assert.Equal(
            ["Helicone-Property-Dify-App-Id", "x-portkey-metadata", "cf-aig-metadata", "x-litellm-tags", "X-App"],
            headers.Select(h => h.Name));
    }
}
