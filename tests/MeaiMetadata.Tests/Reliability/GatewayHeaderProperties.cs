using System.Text.Json;
using CsCheck;
using MeaiMetadata.Gateways;
using MeaiMetadata.Tests.TestDoubles;
using Xunit.Abstractions;

namespace MeaiMetadata.Tests.Reliability;

/// <summary>Every gateway header, for generated app ids and sources: printable ASCII only, accepted by .NET's validating
/// header parser, and decoding back to exactly the decision's app id within the gateway's limits.</summary>
public sealed class GatewayHeaderProperties(ITestOutputHelper output)
{
    public const long Cases = 10_000;

    private static readonly string[] Entries = ["Helicone", "Portkey", "Cloudflare", "LiteLLM", "X-App-Text: text", "X-App-Json: json", "X-App-Tags: tags"];

    [Fact]
    public void EveryPreset_AnyAppId_YieldsValidUninjectableHeadersThatDecodeToTheDecision()
    {
        Assert.Null(GatewayHeader.TryParseAll(Entries, ["X-App-"], out GatewayHeader[] gateways));
        var stats = new Stats();
        Gen.Select(Generators.AnyText, Generators.Source).Sample(
            (rawId, rawSource) =>
            {
                string id = rawId.Length == 0 ? "x" : rawId; // a decision always has an app id
                string? source = string.IsNullOrEmpty(rawSource) ? null : rawSource;
                stats.Count(id);
                stats.Add("id with CR or LF", id.AsSpan().IndexOfAny('\r', '\n') >= 0);
                stats.Add("id with quote or comma", id.AsSpan().IndexOfAny('"', ',') >= 0);
                stats.Add("id non-ASCII", id.Any(c => c > 0x7E));
                stats.Add("id over 128 chars (Portkey cut)", id.Length > 128);
                DifyRequestDecision decision = Decisions.Of(id, source);
                string appId = decision.AppId; // what every channel carries: lone surrogates replaced, cut to 512

                List<KeyValuePair<string, string>> headers = GatewayHeader.ValuesOf(decision, gateways);
                Assert.Equal(source is null ? 7 : 8, headers.Count);
                using var request = new HttpRequestMessage();
                foreach ((string name, string value) in headers)
                {
                    Assert.All(value, c => Assert.InRange(c, '\u0020', '\u007E'));
                    Assert.NotEqual(' ', value[0]);
                    Assert.NotEqual(' ', value[^1]);
                    request.Headers.Add(name, value); // the validating parser: throws on anything that could split a header
                    Assert.Equal(value, Assert.Single(request.Headers.GetValues(name)));
                }

                var byName = headers.ToDictionary(v => v.Key, v => v.Value, StringComparer.OrdinalIgnoreCase);
                Assert.Equal(appId, Uri.UnescapeDataString(byName["Helicone-Property-Dify-App-Id"]));
                Assert.Equal(appId, Uri.UnescapeDataString(byName["X-App-Text"]));
                if (source is not null)
                {
                    Assert.Equal(source, Uri.UnescapeDataString(byName["Helicone-Property-Dify-Source"]));
                }

                CheckJson(byName["x-portkey-metadata"], Oracle.Normalize(appId, 128), source is null ? null : Oracle.Normalize(source, 128), maxValue: 128);
                CheckJson(byName["cf-aig-metadata"], appId, source, maxValue: 512);
                CheckJson(byName["X-App-Json"], appId, source, maxValue: 512);
                CheckTags(byName["x-litellm-tags"], appId, source);
                CheckTags(byName["X-App-Tags"], appId, source);
            },
            iter: Cases);
        stats.Report(output, "GatewayHeaders");
        Assert.True(stats["id with CR or LF"] > 0 && stats["id non-ASCII"] > 0 && stats["id over 128 chars (Portkey cut)"] > 0);
    }

    private static void CheckJson(string value, string appId, string? source, int maxValue)
    {
        using JsonDocument json = JsonDocument.Parse(value);
        JsonProperty[] entries = [.. json.RootElement.EnumerateObject()];
        Assert.InRange(entries.Length, 1, 5); // Cloudflare keeps the first five
        Assert.Equal("dify_app_id", entries[0].Name);
        Assert.Equal(appId, entries[0].Value.GetString());
        Assert.Equal(source, entries.Length > 1 ? entries[1].Value.GetString() : null);
        Assert.All(entries, e => Assert.True(e.Value.GetString()!.Length <= maxValue));
    }

    private static void CheckTags(string value, string appId, string? source)
    {
        string[] tags = value.Split(',');
        Assert.Equal(source is null ? 1 : 2, tags.Length); // no id can add or split a tag
        Assert.Equal(appId, Uri.UnescapeDataString(tags[0][(tags[0].IndexOf(':', StringComparison.Ordinal) + 1)..]));
        Assert.StartsWith("dify_app_id:", tags[0], StringComparison.Ordinal);
        Assert.All(tags, t => Assert.Equal(t.Trim(), t)); // LiteLLM trims spaces: none to trim
        if (source is not null)
        {
            Assert.Equal("dify_source:" + Uri.EscapeDataString(source), tags[1]);
        }
    }
}
