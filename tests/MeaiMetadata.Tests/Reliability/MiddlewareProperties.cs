using System.Globalization;
using CsCheck;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace MeaiMetadata.Tests.Reliability;

/// <summary>Property-based tests of the whole middleware over <see cref="OpenAIStandInClient"/>.</summary>
public sealed class MiddlewareProperties(ITestOutputHelper output)
{
    public const long MiddlewareCases = 10_000;
    public const long SpoofingCases = 3_000;
    public const long LoggingCases = 3_000;
    public const long SharedClientCases = 5_000;

    private static readonly AsyncLocal<string?> s_resolvedId = new();

    [Fact]
    public async Task Middleware_EveryCombination_MatchesTheSpecification()
    {
        var stats = new Stats();
        await Generators.MiddlewareCase.SampleAsync(
            async c =>
            {
                MiddlewareCaseRunner.Outcome outcome = await MiddlewareCaseRunner.RunAsync(c);
                MiddlewareCaseRunner.AssertOutcome(c, outcome);
                Count(stats, c, outcome);
            },
            iter: MiddlewareCases,
            writeLine: output.WriteLine,
            print: c => c.ToString());
        stats.Report(output, "Middleware");

        // The generator must reach every branch often enough for the figures to mean something.
        Assert.True(stats["wire tagged"] > MiddlewareCases / 10);
        Assert.True(stats["wire untagged"] > MiddlewareCases / 10);
        Assert.True(stats["AP channel written"] > MiddlewareCases / 20);
    }

    [Fact]
    public async Task Spoofing_ReservedKeysFromTheCaller_NeverReachAStoredTaggedRequest()
    {
        var stats = new Stats();
        Gen<MiddlewareCase> cases = Gen.Select(Generators.MiddlewareCase, Generators.SpoofingPairs, Generators.SpoofingPairs,
            (c, raw, ap) => c with
            {
                Enabled = true,
                Channel = c.Channel is IdChannel.Resolver ? IdChannel.Resolver : IdChannel.Session,
                AppId = string.IsNullOrWhiteSpace(c.AppId) ? "app" : c.AppId,
                OptionsNull = false,
                Factory = FactoryKind.ReturnsOptions,
                RawPairs = raw,
                ApMetadata = new ApMetadata(c.ApMetadata.Kind is ApMetadataKind.Json ? ApMetadataKind.StringDictionary : c.ApMetadata.Kind, ap),
            });

        await cases.SampleAsync(
            async c =>
            {
                MiddlewareCaseRunner.Outcome outcome = await MiddlewareCaseRunner.RunAsync(c);
                MiddlewareCaseRunner.AssertOutcome(c, outcome);

                string ours = Oracle.Normalize(c.AppId, Oracle.MaxValueLength);
                string? source = string.IsNullOrEmpty(c.Source) ? null : c.Source;
                if (outcome.Expected.WireTagged)
                {
                    Assert.Equal(ours, outcome.WireMetadata[Oracle.AppIdKey]);
                    if (outcome.WireMetadata.TryGetValue(Oracle.SourceKey, out string? sentSource))
                    {
                        Assert.Equal(source, sentSource);
                    }

                    stats.Add("stored request with spoofing caller: attribution ours");
                }
                else
                {
                    Assert.False(outcome.WireMetadata.Keys.Any(Oracle.IsReserved), "an untagged request carries a reserved key");
                    stats.Add(outcome.Expected.ApStoreFlag == false ? "AdditionalProperties store false: untagged, no reserved key" : "request not stored: untagged, no reserved key");
                }

                if (!outcome.Expected.ApChannelWritten && outcome.Sent?.AdditionalProperties?.TryGetValue("metadata", out object? sentMetadata) == true &&
                    sentMetadata is IEnumerable<KeyValuePair<string, string>> sentPairs)
                {
                    Assert.False(sentPairs.Any(p => Oracle.IsReserved(p.Key)), "AdditionalProperties carries a reserved key the layer did not choose");
                    stats.Add("AP channel not written: no reserved key of the caller's");
                }

                if (outcome.Expected.ApChannelWritten)
                {
                    var metadata = (IReadOnlyDictionary<string, string>)outcome.Sent!.AdditionalProperties!["metadata"]!;
                    Assert.Equal(ours, metadata[Oracle.AppIdKey]);
                    Assert.Equal(source, metadata.TryGetValue(Oracle.SourceKey, out string? s) ? s : source);
                    stats.Add("AP channel with spoofing caller: attribution ours");
                }

                stats.Count(c.AppId);
            },
            iter: SpoofingCases,
            writeLine: output.WriteLine,
            print: c => c.ToString());
        stats.Report(output, "Spoofing");
    }

    [Fact]
    public async Task Spoofing_AdditionalPropertiesStoreFalse_RawStoreTrue_StillCannotSpoof()
    {
        Gen<MiddlewareCase> cases = Gen.Select(Generators.MiddlewareCase, Generators.SpoofingPairs, Gen.OneOf(ApStoreKind.False, ApStoreKind.FalseString, ApStoreKind.JsonFalse),
            (c, raw, apStore) => c with
            {
                Enabled = true,
                Channel = IdChannel.Session,
                AppId = string.IsNullOrWhiteSpace(c.AppId) ? "app" : c.AppId,
                OptionsNull = false,
                Factory = FactoryKind.ReturnsOptions,
                RawStore = true,
                RawPairs = raw,
                ApStore = apStore,
            });

        await cases.SampleAsync(
            async c =>
            {
                MiddlewareCaseRunner.Outcome outcome = await MiddlewareCaseRunner.RunAsync(c);
                Assert.True(outcome.WireStore);
                if (outcome.WireMetadata.TryGetValue(Oracle.AppIdKey, out string? sent))
                {
                    Assert.Equal(Oracle.Normalize(c.AppId, Oracle.MaxValueLength), sent);
                }
            },
            iter: 1_000,
            writeLine: output.WriteLine,
            print: c => c.ToString());
    }

    [Fact]
    public async Task JsonCallerMetadata_WithLoneSurrogateEscapes_NeverBreaksTheRequest()
    {
        Gen<MiddlewareCase> cases = Gen.Select(Generators.MiddlewareCase, Generators.CallerPairs, (c, pairs) => c with
        {
            Enabled = true,
            Channel = IdChannel.Session,
            AppId = string.IsNullOrWhiteSpace(c.AppId) ? "app" : c.AppId,
            OptionsNull = false,
            ApStore = ApStoreKind.Absent,
            AdditionalPropertiesEnabled = true,
            Policy = DifyStorePolicy.EnableWhenUnset,
            ApMetadata = new ApMetadata(ApMetadataKind.Json, pairs),
        });

        await cases.SampleAsync(
            async c =>
            {
                MiddlewareCaseRunner.Outcome outcome = await MiddlewareCaseRunner.RunAsync(c); // must not throw
                var metadata = (IReadOnlyDictionary<string, string>)outcome.Sent!.AdditionalProperties!["metadata"]!;
                Oracle.AssertWithinLimits(metadata);
                Assert.Equal(Oracle.Normalize(c.AppId, Oracle.MaxValueLength), metadata[Oracle.AppIdKey]);
                NormalizationProperties.AssertSameMetadata(outcome.Expected.WireMetadata, outcome.WireMetadata);
            },
            iter: 2_000,
            writeLine: output.WriteLine,
            print: c => c.ToString());
    }

    [Fact]
    public async Task Logging_TheAppIdNeverAppearsAboveDebug()
    {
        var stats = new Stats();
        Gen<MiddlewareCase> cases = Gen.Select(Generators.MiddlewareCase, Generators.Units(0, 40), Gen.ULong, Generators.AnyText,
            (c, prefix, token, suffix) => c with { AppId = prefix + Marker(token) + suffix });

        await cases.SampleAsync(
            async c =>
            {
                MiddlewareCaseRunner.Outcome outcome = await MiddlewareCaseRunner.RunAsync(c);
                MiddlewareCaseRunner.AssertOutcome(c, outcome);

                string marker = MarkerOf(c.AppId);
                MiddlewareCaseRunner.AssertNotLoggedAboveDebug(outcome.Logs, marker);
                if (outcome.Expected.IdFound)
                {
                    // The id is logged, at Debug, whenever the request has an app: the check above is not vacuous.
                    Assert.Contains(outcome.Logs, r => r.Level == LogLevel.Debug && r.Message.Contains(marker, StringComparison.Ordinal));
                }

                stats.Add("records above Debug checked", outcome.Logs.Any(r => r.Level > LogLevel.Debug));
                stats.Add("warnings", outcome.Logs.Any(r => r.Level == LogLevel.Warning));
                stats.Count(c.AppId);
            },
            iter: LoggingCases,
            writeLine: output.WriteLine,
            print: c => c.ToString());
        stats.Report(output, "Logging");
    }

    [Fact]
    public async Task SharedClients_ConcurrentRequests_EachCarriesItsOwnId()
    {
        var stats = new Stats();
        var provider = new OpenAIStandInClient(StandInApi.ChatCompletions); // only its GetService is used, which is stateless
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = async (_, options, _) =>
            {
                await Task.Yield();
                return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"))
                {
                    RawRepresentation = options?.RawRepresentationFactory?.Invoke(provider),
                };
            },
        };
        var bySession = new DifyMetadataChatClient(inner, new DifyMetadataOptions());
        var bySessionOtherSource = new DifyMetadataChatClient(inner, new DifyMetadataOptions { Source = "other" });
        var byResolver = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdResolver = () => s_resolvedId.Value });

        Gen<(string Id, bool Resolver, int Rounds)> cases = Gen.Select(
            Gen.Frequency((1, Gen.OneOf("app-1", "app-2", "app-3")), (3, Generators.SmallText.Where(t => !string.IsNullOrWhiteSpace(t)))),
            Gen.Bool,
            Gen.Int[1, 4]);

        await cases.SampleAsync(
            async (id, resolver, rounds) =>
            {
                string expected = Oracle.Normalize(id, Oracle.MaxValueLength);
                for (int round = 0; round < rounds; round++)
                {
                    if (resolver)
                    {
                        s_resolvedId.Value = id;
                        AssertTagged(await byResolver.GetResponseAsync("hi"), expected, "dify");
                        s_resolvedId.Value = null;
                    }
                    else
                    {
                        using (DifySession.Begin(id))
                        {
                            AssertTagged(await bySession.GetResponseAsync("hi"), expected, "dify");
                            AssertTagged(await bySessionOtherSource.GetResponseAsync("hi"), expected, "other");
                        }
                    }

                    stats.Add("requests", when: true);
                }

                stats.Count(id);
            },
            iter: SharedClientCases,
            threads: 8,
            writeLine: output.WriteLine,
            print: t => $"{Oracle.Describe(t.Item1)} resolver {t.Item2} rounds {t.Item3}");
        stats.Report(output, "SharedClients");

        static void AssertTagged(ChatResponse response, string expectedId, string expectedSource)
        {
            IDictionary<string, string> metadata = RawMetadata.Of(response.RawRepresentation);
            Assert.Equal(expectedId, metadata[Oracle.AppIdKey]);
            Assert.Equal(expectedSource, metadata[Oracle.SourceKey]);
        }
    }

    private static string Marker(ulong token) => "\u2063ID" + token.ToString("x16", CultureInfo.InvariantCulture) + "\u2063";

    private static string MarkerOf(string appId)
    {
        int start = appId.IndexOf("\u2063ID", StringComparison.Ordinal);
        return appId.Substring(start, 20);
    }

    private static void Count(Stats stats, MiddlewareCase c, MiddlewareCaseRunner.Outcome outcome)
    {
        stats.Count(c.AppId);
        stats.Add("wire tagged", outcome.Expected.WireTagged);
        stats.Add("wire untagged", !outcome.Expected.WireTagged);
        stats.Add("layer active but wire untagged (store)", outcome.Expected.LayerActive && !outcome.Expected.WireTagged);
        stats.Add("AP channel written", outcome.Expected.ApChannelWritten);
        stats.Add("streaming", c.Streaming);
        stats.Add("responses api", c.Api == StandInApi.Responses);
        stats.Add("resolver", c.Channel is not IdChannel.Session and not IdChannel.NoSession);
        stats.Add("resolver throws", c.Channel == IdChannel.ResolverThrows);
        stats.Add("LeaveUnset", c.Policy == DifyStorePolicy.LeaveUnset);
        stats.Add("disabled", !c.Enabled);
        stats.CountPairs(c.RawPairs.Count, c.RawPairs.Any(p => Oracle.IsReserved(p.Key)),
            c.RawPairs.Count(p => !Oracle.IsReserved(p.Key) && !Oracle.IsValidCallerKey(p.Key)),
            c.RawPairs.Count(p => Oracle.Normalize(p.Value, Oracle.MaxValueLength) != p.Value));
    }
}
