using CsCheck;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using MeaiMetadata.Tagging;
using OpenAI.Chat;
using OpenAI.Responses;
using Xunit.Abstractions;

namespace MeaiMetadata.Tests.Reliability;

/// <summary>Property-based tests of the text normalization, the tag set and the merge, against <see cref="Oracle"/>.</summary>
public sealed class NormalizationProperties(ITestOutputHelper output)
{
    public const long NormalizeCases = 20_000;
    public const long DecisionCases = 5_000;
    public const long MergeCases = 10_000;

    private static readonly Gen<int> MaxLength = Gen.Frequency(
        (4, Gen.Const(Oracle.MaxValueLength)),
        (2, Gen.Const(Oracle.MaxKeyLength)),
        (2, Gen.Int[1, 600]));

    [Fact]
    public void Normalize_MatchesTheSpecification()
    {
        var stats = new Stats();
        Gen.Select(Generators.AnyText, MaxLength).Sample(
            (text, max) =>
            {
                string normalized = WireMetadata.Normalize(text, max);

                Assert.Equal(Oracle.Normalize(text, max), normalized);
                Assert.False(Oracle.HasLoneSurrogate(normalized));
                Assert.True(normalized.Length <= max);
                Assert.StartsWith(normalized, Oracle.ReplacedPrefix(text, Math.Min(text.Length, max + 1)), StringComparison.Ordinal);
                if (max == Oracle.MaxValueLength)
                {
                    Oracle.AssertSentAppId(text, normalized);
                }

                bool valid = text.Length <= max && !Oracle.HasLoneSurrogate(text);
                if (valid)
                {
                    Assert.Same(text, normalized); // nothing to change: no copy
                }

                Assert.Equal(!valid, !ReferenceEquals(WireMetadata.Normalize(text, max), text));
                Assert.Same(normalized, WireMetadata.Normalize(normalized, max)); // idempotent

                stats.Count(text);
            },
            iter: NormalizeCases,
            writeLine: output.WriteLine,
            print: t => $"{Oracle.Describe(t.Item1)} max {t.Item2}");
        stats.Report(output, "Normalize");
    }

    [Fact]
    public void Decision_NormalizesTheAppIdOnce_EveryChannelCarriesIt()
    {
        var stats = new Stats();
        Gen.Select(Generators.AnyText.Where(t => !string.IsNullOrWhiteSpace(t)), Generators.Source.Select(s => string.IsNullOrEmpty(s) ? null : s)).Sample(
            (appId, source) =>
            {
                var inner = new OpenAIStandInClient(StandInApi.ChatCompletions); // one per case: cases run in parallel
                using var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { Source = source });
                using (DifySession.Begin(appId))
                {
                    _ = Send.RequestAsync(client, new ChatOptions(), streaming: false).GetAwaiter().GetResult();
                }

                string sent = Oracle.Normalize(appId, Oracle.MaxValueLength);
                Oracle.AssertSentAppId(appId, sent);
                var pairs = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(inner.LastOptions!.AdditionalProperties!["metadata"]);
                IDictionary<string, string> wire = RawMetadata.Of(inner.LastRaw);
                foreach (IEnumerable<KeyValuePair<string, string>> channel in new IEnumerable<KeyValuePair<string, string>>[] { pairs, wire })
                {
                    var metadata = channel.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
                    Assert.Equal(sent, metadata[Oracle.AppIdKey]);
                    Assert.Equal(source is null ? 1 : 2, metadata.Count);
                    if (source is not null)
                    {
                        Assert.Equal(source, metadata[Oracle.SourceKey]);
                    }

                    Oracle.AssertWithinLimits(metadata);
                }

                Assert.False(pairs is IDictionary<string, string> { IsReadOnly: false }, "the AdditionalProperties pairs are writable");
                stats.Count(appId);
            },
            iter: DecisionCases,
            writeLine: output.WriteLine,
            print: t => $"{Oracle.Describe(t.Item1)} source {Oracle.Describe(t.Item2)}");
        stats.Report(output, "Decision");
    }

    [Fact]
    public void Merge_MatchesTheSpecification_OnEveryTargetDictionary()
    {
        var stats = new Stats();
        Gen<MergeInput> input = Gen.Select(
            Gen.Frequency((3, Generators.CallerPairs), (2, Generators.SpoofingPairs)),
            Gen.Int[0, 40],
            Generators.AnyText.Where(t => t.Length > 0),
            Generators.Source.Select(s => string.IsNullOrEmpty(s) ? null : s),
            Gen.Enum<MergeTarget>(),
            (pairs, nullAt, appId, source, target) => new MergeInput(
                [.. pairs.Select((p, i) => new KeyValuePair<string, string?>(p.Key, i == nullAt && target == MergeTarget.Dictionary ? null : p.Value))],
                appId, source, target));

        input.Sample(
            c =>
            {
                IDictionary<string, string> metadata = c.Target switch
                {
                    MergeTarget.ChatCompletionOptions => new ChatCompletionOptions().Metadata,
                    MergeTarget.CreateResponseOptions => new CreateResponseOptions().Metadata,
                    _ => new Dictionary<string, string>(StringComparer.Ordinal),
                };
                foreach (KeyValuePair<string, string?> pair in c.Pairs)
                {
                    metadata[pair.Key] = pair.Value!;
                }

                string sentAppId = WireMetadata.Normalize(c.AppId, WireMetadata.MaxValueLength);
                var report = WireMetadata.Merge(metadata, sentAppId, c.Source, WireMetadata.OpenAI, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, "test");

                MergeExpectation expected = Oracle.Merge(c.Pairs, Oracle.Normalize(c.AppId, Oracle.MaxValueLength), c.Source);
                AssertSameMetadata(expected.Result, metadata);
                Assert.Equal(expected.Dropped, report.Dropped ?? []);
                Assert.Equal(expected.Adjusted, report.Adjusted ?? []);
                Assert.Equal(expected.SourceOmitted, report.SourceOmitted);

                // The invariants, stated on their own as well.
                Oracle.AssertWithinLimits(metadata);
                Oracle.AssertSentAppId(c.AppId, metadata[Oracle.AppIdKey]);
                Assert.Equal(sentAppId, metadata[Oracle.AppIdKey]); // never the caller's (spoofed) value
                if (metadata.TryGetValue(Oracle.SourceKey, out string? sentSource))
                {
                    Assert.Equal(c.Source, sentSource);
                }

                stats.Count(c.AppId);
                stats.CountPairs(c.Pairs.Count, c.Pairs.Any(p => Oracle.IsReserved(p.Key)), expected.Dropped.Count, expected.Adjusted.Count);
            },
            iter: MergeCases,
            writeLine: output.WriteLine,
            print: c => c.ToString());
        stats.Report(output, "Merge");
    }

    internal static void AssertSameMetadata(IReadOnlyDictionary<string, string> expected, IEnumerable<KeyValuePair<string, string>> actual)
    {
        var sortedExpected = expected.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        var sortedActual = actual.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        if (sortedExpected.Count != sortedActual.Count)
        {
            var expectedKeys = sortedExpected.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
            var actualKeys = sortedActual.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
            Assert.Fail($"{sortedExpected.Count} pairs expected, {sortedActual.Count} found; missing [" +
                string.Join(", ", expectedKeys.Except(actualKeys).Select(Oracle.Describe)) + "], unexpected [" +
                string.Join(", ", actualKeys.Except(expectedKeys).Select(Oracle.Describe)) + "]");
        }

        for (int i = 0; i < sortedExpected.Count; i++)
        {
            Assert.True(string.Equals(sortedExpected[i].Key, sortedActual[i].Key, StringComparison.Ordinal),
                $"key {Oracle.Describe(sortedExpected[i].Key)} expected, {Oracle.Describe(sortedActual[i].Key)} found");
            Assert.True(string.Equals(sortedExpected[i].Value, sortedActual[i].Value, StringComparison.Ordinal),
                $"value of {Oracle.Describe(sortedExpected[i].Key)}: {Oracle.Describe(sortedExpected[i].Value)} expected, {Oracle.Describe(sortedActual[i].Value)} found");
        }
    }

    internal enum MergeTarget
    {
        Dictionary,
        ChatCompletionOptions,
        CreateResponseOptions,
    }

    internal sealed record MergeInput(List<KeyValuePair<string, string?>> Pairs, string AppId, string? Source, MergeTarget Target)
    {
        public override string ToString() =>
            $"{Target} AppId={Oracle.Describe(AppId)} Source={Oracle.Describe(Source)} Pairs=[{string.Join(", ", Pairs.Select(p => Oracle.Describe(p.Key) + "=" + Oracle.Describe(p.Value)))}]";
    }
}
