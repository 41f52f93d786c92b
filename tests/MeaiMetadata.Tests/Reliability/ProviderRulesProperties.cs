using System.Text;
using System.Text.RegularExpressions;
using CsCheck;
using MeaiMetadata.Providers;
using MeaiMetadata.Tests.TestDoubles;
using Xunit.Abstractions;

namespace MeaiMetadata.Tests.Reliability;

/// <summary>Property-based tests of the Vertex AI label and Bedrock request-metadata rules (normalizer and merge).</summary>
public sealed partial class ProviderRulesProperties(ITestOutputHelper output)
{
    public const long Cases = 3_000;

    private static readonly Gen<string> LabelishText = Gen.Frequency(
        (3, Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789_-"].Array[1, 70].Select(c => new string(c))),
        (1, Gen.Char["ABCXYZabc019 :_@$#=/+,-.\t\u0130\u212A\u00DF"].Array[1, 70].Select(c => new string(c))),
        (3, Generators.SmallText));

    private static readonly Gen<string> VertexKeyish =
        Gen.Select(Gen.Char['a', 'z'], Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789_-"].Array[0, 20], (first, rest) => first + new string(rest));

    private static readonly Gen<List<KeyValuePair<string, string>>> Labels = Gen.Frequency(
        (3, Gen.Select(Gen.Frequency((3, LabelishText), (1, Generators.Key)), LabelishText).Array[0, 40]),
        (1, Gen.Select(VertexKeyish, LabelishText).Array[60, 80])).Select(pairs =>
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            return pairs.Where(p => seen.Add(p.Item1)).Select(p => new KeyValuePair<string, string>(p.Item1, p.Item2)).ToList();
        });

    [Fact]
    public void VertexLabels_NormalizeAndMerge_StayWithinGooglesRules()
    {
        var stats = new Stats();
        Check(
            stats,
            maxPairs: VertexAILabels.MaxLabels,
            normalize: VertexAILabels.NormalizeValue,
            merge: VertexAILabels.Merge,
            expectedValue: s => Replace(s, VertexAILabels.MaxLength, lowerCase: true, c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '-'),
            isValidKey: k => VertexKey().IsMatch(k),
            isValidValue: v => VertexValue().IsMatch(v));
        stats.Report(output, "Vertex");
    }

    [Fact]
    public void BedrockMetadata_NormalizeAndMerge_StayWithinAmazonsRules()
    {
        var stats = new Stats();
        Check(
            stats,
            maxPairs: BedrockRequestMetadata.MaxPairs,
            normalize: BedrockRequestMetadata.NormalizeValue,
            merge: BedrockRequestMetadata.Merge,
            expectedValue: s => Replace(s, BedrockRequestMetadata.MaxValueLength, lowerCase: false, c => BedrockChar().IsMatch(c.ToString())),
            isValidKey: k => BedrockKey().IsMatch(k),
            isValidValue: v => BedrockValue().IsMatch(v));
        stats.Report(output, "Bedrock");
    }

    private delegate bool Merger(IDictionary<string, string> metadata, DifyRequestDecision decision);

    private void Check(
        Stats stats, int maxPairs, Func<string, string> normalize, Merger merge, Func<string, string> expectedValue,
        Func<string, bool> isValidKey, Func<string, bool> isValidValue)
    {
        Gen.Select(Generators.AnyText.Where(t => t.Length > 0), Labels, Gen.Bool).Sample(
            (appId, labels, withSource) =>
            {
                // The normalizer.
                string normalizedId = normalize(appId);
                Assert.Equal(expectedValue(appId), normalizedId);
                Assert.True(isValidValue(normalizedId), $"invalid value {Oracle.Describe(normalizedId)}");
                Assert.Same(normalizedId, normalize(normalizedId));

                // The merge.
                DifyRequestDecision context = Decisions.Of(appId, withSource ? "dify" : null);
                var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (KeyValuePair<string, string> pair in labels)
                {
                    metadata[pair.Key] = pair.Value;
                }

                merge(metadata, context);

                Assert.InRange(metadata.Count, 1, maxPairs);
                Assert.All(metadata, p =>
                {
                    Assert.True(isValidKey(p.Key), $"invalid key {Oracle.Describe(p.Key)}");
                    Assert.True(isValidValue(p.Value), $"invalid value {Oracle.Describe(p.Value)}");
                });
                Assert.Equal(normalizedId, metadata[Oracle.AppIdKey]);

                // The caller's valid keys, oldest first, with normalized values; dify_source only if room is left.
                List<KeyValuePair<string, string>> kept = [.. labels
                    .Where(p => !Oracle.IsReserved(p.Key) && isValidKey(p.Key))
                    .Take(maxPairs - 1)
                    .Select(p => new KeyValuePair<string, string>(p.Key, expectedValue(p.Value)))];
                var expected = kept.ToDictionary(StringComparer.Ordinal);
                expected[Oracle.AppIdKey] = normalizedId;
                if (withSource && expected.Count < maxPairs)
                {
                    expected[Oracle.SourceKey] = "dify";
                }

                NormalizationProperties.AssertSameMetadata(expected, metadata);
                stats.Count(appId);
                stats.Add("caller label kept", kept.Count > 0);
                stats.Add("caller labels displaced", labels.Count(p => !Oracle.IsReserved(p.Key) && isValidKey(p.Key)) > maxPairs - 1);
            },
            iter: Cases,
            writeLine: output.WriteLine,
            print: t => $"{Oracle.Describe(t.Item1)} source {t.Item3} labels [{string.Join(", ", t.Item2.Select(p => Oracle.Describe(p.Key) + "=" + Oracle.Describe(p.Value)))}]");
    }

    /// <summary>The reference rule: per Unicode scalar (a lone surrogate is one), lower-cased when asked, kept when it is an
    /// allowed ASCII char, else one '_'; at most <paramref name="max"/> chars.</summary>
    private static string Replace(string text, int max, bool lowerCase, Func<char, bool> allowed)
    {
        var result = new StringBuilder();
        for (int i = 0; i < text.Length && result.Length < max; i++)
        {
            bool pair = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            char c = text[i];
            if (pair)
            {
                i++;
                result.Append('_');
                continue;
            }

            string mapped = lowerCase && !char.IsSurrogate(c) ? c.ToString().ToLowerInvariant() : c.ToString();
            result.Append(mapped.Length == 1 && mapped[0] < 0x80 && allowed(mapped[0]) ? mapped[0] : '_');
        }

        return result.ToString();
    }

    [GeneratedRegex("^[a-z][a-z0-9_-]{0,62}\\z")]
    private static partial Regex VertexKey();

    [GeneratedRegex("^[a-z0-9_-]{0,63}\\z")]
    private static partial Regex VertexValue();

    [GeneratedRegex(@"^[a-zA-Z0-9 \t\n\v\f\r:_@$#=/+,\-.]\z")]
    private static partial Regex BedrockChar();

    [GeneratedRegex(@"^[a-zA-Z0-9 \t\n\v\f\r:_@$#=/+,\-.]{1,256}\z")]
    private static partial Regex BedrockKey();

    [GeneratedRegex(@"^[a-zA-Z0-9 \t\n\v\f\r:_@$#=/+,\-.]{0,256}\z")]
    private static partial Regex BedrockValue();
}
