using System.Collections.ObjectModel;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using OpenAI.Chat;
using OpenAI.Responses;

namespace MeaiMetadata.Tests.Reliability;

/// <summary>Runs one <see cref="MiddlewareCase"/> through <see cref="DifyMetadataChatClient"/> over <see cref="OpenAIStandInClient"/>.</summary>
internal static class MiddlewareCaseRunner
{
    public const string DecoySessionId = "decoy-session";

    /// <summary>What a case must produce, derived from the specification.</summary>
    internal sealed record Expectation(
        bool? ApStoreFlag,
        bool IdFound,
        bool DecisionTagged,
        bool LayerActive,
        bool WireTagged,
        bool? WireStore,
        IReadOnlyDictionary<string, string> WireMetadata,
        bool ApChannelWritten,
        IReadOnlyDictionary<string, string>? ApMetadata,
        bool? ApStoreWritten,
        IReadOnlyDictionary<string, string>? ApStripped);

    internal sealed record Outcome(
        Expectation Expected,
        ChatOptions? CallerOptions,
        ChatOptions? Sent,
        IDictionary<string, string> WireMetadata,
        bool? WireStore,
        IReadOnlyList<FakeLogRecord> Logs);

    public static Expectation Expect(MiddlewareCase c)
    {
        string? source = string.IsNullOrEmpty(c.Source) ? null : c.Source;
        bool idFound = c.Enabled && c.Channel is IdChannel.Session or IdChannel.Resolver && !string.IsNullOrWhiteSpace(c.AppId);
        bool? apFlag = c.OptionsNull ? null : c.ApStore switch
        {
            ApStoreKind.True or ApStoreKind.TrueString or ApStoreKind.JsonTrue => true,
            ApStoreKind.False or ApStoreKind.FalseString or ApStoreKind.JsonFalse => false,
            _ => null,
        };

        // The one decision, made before the request goes on: the caller's readable flag, else the policy; tagged by the
        // API's rule (Chat Completions needs store true, Responses stores unless told not to).
        bool? decidedStore = apFlag ?? (c.Policy == DifyStorePolicy.EnableWhenUnset ? true : null);
        bool decisionTagged = idFound && Attaches(c.Api, decidedStore);

        // The factory goes on whenever the wire has something to get: the tags, a store flag, or caller raw options.
        bool callerHasFactory = !c.OptionsNull && c.Factory != FactoryKind.None;
        bool factoryInstalled = idFound; // a decided call always carries its decision (an inner layer must see it)

        bool factoryMakesOptions = !c.OptionsNull && c.Factory == FactoryKind.ReturnsOptions;
        bool? rawStore = factoryMakesOptions ? c.RawStore : null;
        List<KeyValuePair<string, string>> rawPairs = factoryMakesOptions ? c.RawPairs : [];

        // On the wire the caller's raw options have the last word on store; metadata goes where that final flag allows.
        bool? wireStore = factoryInstalled ? rawStore ?? decidedStore : rawStore;
        bool wireTagged = factoryInstalled && Attaches(c.Api, wireStore);

        string normalizedId = Oracle.Normalize(c.AppId, Oracle.MaxValueLength);
        List<KeyValuePair<string, string>> apPairs = ReadableApPairs(c);
        bool apReadable = !c.OptionsNull && (c.ApMetadata.Kind is ApMetadataKind.StringDictionary or ApMetadataKind.ObjectDictionary or ApMetadataKind.ReadOnlyDictionary ||
            (c.ApMetadata.Kind == ApMetadataKind.Json && JsonReadable(c.ApMetadata.Pairs)));

        // On a tagged wire, the caller's AdditionalProperties pairs join the raw options' own (which win on a shared key).
        var wireCaller = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (KeyValuePair<string, string> pair in rawPairs)
        {
            wireCaller[pair.Key] = pair.Value;
        }

        foreach (KeyValuePair<string, string> pair in apPairs.GroupBy(p => p.Key, StringComparer.Ordinal).Select(g => g.Last()))
        {
            _ = wireCaller.TryAdd(pair.Key, pair.Value);
        }

        IReadOnlyDictionary<string, string> wireMetadata = wireTagged
            ? Oracle.Merge(ToNullable([.. wireCaller]), normalizedId, source).Result
            : rawPairs.Where(p => !factoryInstalled || !Oracle.IsReserved(p.Key)).ToDictionary(StringComparer.Ordinal);

        bool apWritten = decisionTagged && c.AdditionalPropertiesEnabled;
        IReadOnlyDictionary<string, string>? apMetadata = apWritten ? Oracle.Merge(ToNullable(apPairs), normalizedId, source).Result : null;
        bool? apStoreWritten = apWritten ? decidedStore : null;
        IReadOnlyDictionary<string, string>? apStripped = !apWritten && idFound && apReadable && apPairs.Any(p => Oracle.IsReserved(p.Key))
            ? apPairs.Where(p => !Oracle.IsReserved(p.Key)).GroupBy(p => p.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal)
            : null;

        bool layerActive = factoryInstalled || apWritten || apStripped is not null;
        return new Expectation(apFlag, idFound, decisionTagged, layerActive, wireTagged, wireStore, wireMetadata, apWritten, apMetadata, apStoreWritten, apStripped);

        static bool Attaches(StandInApi api, bool? store) => api == StandInApi.ChatCompletions ? store == true : store != false;
    }

    /// <summary>The caller pairs the layer can read from <c>AdditionalProperties["metadata"]</c>.</summary>
    public static List<KeyValuePair<string, string>> ReadableApPairs(MiddlewareCase c) =>
        c.OptionsNull ? [] : c.ApMetadata.Kind switch
        {
            ApMetadataKind.StringDictionary or ApMetadataKind.ObjectDictionary or ApMetadataKind.ReadOnlyDictionary => c.ApMetadata.Pairs,
            ApMetadataKind.Json when JsonReadable(c.ApMetadata.Pairs) => c.ApMetadata.Pairs,
            _ => [],
        };

    /// <summary>JSON whose strings escape a lone surrogate cannot be decoded: such caller metadata is unreadable (replaced by the tags).</summary>
    public static bool JsonReadable(List<KeyValuePair<string, string>> pairs) =>
        !pairs.Any(p => Oracle.HasLoneSurrogate(p.Key) || Oracle.HasLoneSurrogate(p.Value));

    public static ChatOptions? BuildOptions(MiddlewareCase c)
    {
        if (c.OptionsNull)
        {
            return null;
        }

        var options = new ChatOptions { Temperature = 0.25f };
        switch (c.Factory)
        {
            case FactoryKind.ReturnsOptions:
                options.RawRepresentationFactory = _ =>
                {
                    object raw = c.Api == StandInApi.ChatCompletions
                        ? new ChatCompletionOptions { StoredOutputEnabled = c.RawStore }
                        : new CreateResponseOptions { StoredOutputEnabled = c.RawStore };
                    IDictionary<string, string> metadata = RawMetadata.Of(raw);
                    foreach (KeyValuePair<string, string> pair in c.RawPairs)
                    {
                        metadata[pair.Key] = pair.Value;
                    }

                    return raw;
                };
                break;
            case FactoryKind.ReturnsNull:
                options.RawRepresentationFactory = _ => null;
                break;
        }

        if (c.ApStore != ApStoreKind.Absent || c.ApMetadata.Kind != ApMetadataKind.Absent)
        {
            options.AdditionalProperties = new() { ["unrelated"] = "kept" };
        }

        if (c.ApStore != ApStoreKind.Absent)
        {
            options.AdditionalProperties![c.ApStoreKeyUpperCase ? "STORE" : "store"] = c.ApStore switch
            {
                ApStoreKind.True => true,
                ApStoreKind.False => false,
                ApStoreKind.TrueString => "true",
                ApStoreKind.FalseString => "False",
                ApStoreKind.JsonTrue => JsonDocument.Parse("true").RootElement.Clone(),
                ApStoreKind.JsonFalse => JsonDocument.Parse("false").RootElement.Clone(),
                _ => c.ApStoreKeyUpperCase ? "yes" : 1,
            };
        }

        if (c.ApMetadata.Kind != ApMetadataKind.Absent)
        {
            List<KeyValuePair<string, string>> pairs = c.ApMetadata.Pairs;
            options.AdditionalProperties!["metadata"] = c.ApMetadata.Kind switch
            {
                ApMetadataKind.Null => null,
                ApMetadataKind.StringDictionary => new Dictionary<string, string>(pairs, StringComparer.Ordinal),
                ApMetadataKind.ObjectDictionary => new Dictionary<string, object?>(pairs.Select(p => new KeyValuePair<string, object?>(p.Key, p.Value)), StringComparer.Ordinal),
                ApMetadataKind.ReadOnlyDictionary => new ReadOnlyDictionary<string, string>(new Dictionary<string, string>(pairs, StringComparer.Ordinal)),
                ApMetadataKind.Json => JsonDocument.Parse(ToJson(pairs)).RootElement.Clone(),
                _ => 42,
            };
        }

        return options;
    }

    /// <summary>Writes pairs as a JSON object the way other stacks do: every non-ASCII char as a \u escape.</summary>
    public static string ToJson(IEnumerable<KeyValuePair<string, string>> pairs)
    {
        var json = new StringBuilder("{");
        bool first = true;
        foreach (KeyValuePair<string, string> pair in pairs)
        {
            if (!first)
            {
                json.Append(',');
            }

            first = false;
            AppendJsonString(json, pair.Key);
            json.Append(':');
            AppendJsonString(json, pair.Value);
        }

        return json.Append('}').ToString();
    }

    private static void AppendJsonString(StringBuilder json, string text)
    {
        json.Append('"');
        foreach (char c in text)
        {
            if (c is >= ' ' and <= '~' and not '"' and not '\\')
            {
                json.Append(c);
            }
            else
            {
                json.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
        }

        json.Append('"');
    }

    public static async Task<Outcome> RunAsync(MiddlewareCase c)
    {
        var logger = new FakeLogger();
        var inner = new OpenAIStandInClient(c.Api);
        Func<string?>? resolver = c.Channel switch
        {
            IdChannel.Resolver => () => c.AppId,
            IdChannel.ResolverReturnsNull => () => null,
            IdChannel.ResolverReturnsEmpty => () => string.Empty,
            IdChannel.ResolverThrows => () => throw new InvalidOperationException("the resolver failed"),
            _ => null,
        };
        var client = new DifyMetadataChatClient(
            inner,
            new DifyMetadataOptions
            {
                Enabled = c.Enabled,
                Source = c.Source,
                StorePolicy = c.Policy,
                AdditionalPropertiesEnabled = c.AdditionalPropertiesEnabled,
                AppIdResolver = resolver,
            },
            logger);

        ChatOptions? options = BuildOptions(c);
        var snapshot = CallerSnapshot.Take(options);

        // A session wins over the resolver: resolver cases run outside any session. Around session cases the decoy is an
        // outer session the inner one must win over. NoSession cases have no session at all.
        IDisposable? outer = c.Channel is IdChannel.Session && c.DecoyOuterSession ? DifySession.Begin(DecoySessionId) : null;
        IDisposable? session = c.Channel == IdChannel.Session ? DifySession.Begin(c.AppId) : null;
        string text;
        try
        {
            text = await Send.RequestAsync(client, options, c.Streaming);
        }
        finally
        {
            session?.Dispose();
            outer?.Dispose();
        }

        Assert.Equal("ok", text);
        snapshot.AssertUnchanged(options);

        return new Outcome(Expect(c), options, inner.LastOptions, RawMetadata.Of(inner.LastRaw), RawMetadata.StoreOf(inner.LastRaw), logger.Collector.GetSnapshot());
    }

    /// <summary>Asserts everything the specification says about one case.</summary>
    public static void AssertOutcome(MiddlewareCase c, Outcome outcome)
    {
        Expectation expected = outcome.Expected;

        // Untouched pass-through versus a tagged clone.
        if (!expected.LayerActive)
        {
            Assert.Same(outcome.CallerOptions, outcome.Sent);
        }
        else
        {
            Assert.NotNull(outcome.Sent);
            Assert.NotSame(outcome.CallerOptions, outcome.Sent);
        }

        // The wire (raw options).
        NormalizationProperties.AssertSameMetadata(expected.WireMetadata, outcome.WireMetadata);
        Assert.Equal(expected.WireStore, outcome.WireStore);
        if (expected.WireTagged)
        {
            Oracle.AssertWithinLimits(outcome.WireMetadata);
            Oracle.AssertSentAppId(c.AppId, outcome.WireMetadata[Oracle.AppIdKey]);
            Assert.NotEqual(false, outcome.WireStore);
            if (c.Api == StandInApi.ChatCompletions)
            {
                Assert.True(outcome.WireStore); // Chat Completions rejects metadata without store: true
            }
        }

        // The provider-neutral channel.
        AdditionalPropertiesDictionary? callerProperties = outcome.CallerOptions?.AdditionalProperties;
        AdditionalPropertiesDictionary? sentProperties = outcome.Sent?.AdditionalProperties;
        if (expected.ApChannelWritten)
        {
            AdditionalPropertiesDictionary properties = Assert.IsType<AdditionalPropertiesDictionary>(sentProperties);
            if (expected.ApStoreWritten is bool store)
            {
                Assert.Equal(store, properties["store"]);
            }
            else
            {
                AssertSameEntry(callerProperties, properties, "store");
            }

            var metadata = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(properties["metadata"]);
            NormalizationProperties.AssertSameMetadata(expected.ApMetadata!, metadata);
            Oracle.AssertWithinLimits(metadata);
            Assert.False(metadata is IDictionary<string, string> { IsReadOnly: false }, "the metadata handed on is writable");
        }
        else if (expected.LayerActive)
        {
            // Not written: the clone carries the caller's entries as they were, less any reserved key in its metadata.
            Assert.Equal(callerProperties is null, sentProperties is null);
            if (callerProperties is not null)
            {
                Assert.Equal(callerProperties.Count, sentProperties!.Count);
                foreach (KeyValuePair<string, object?> entry in callerProperties)
                {
                    if (expected.ApStripped is not null && string.Equals(entry.Key, "metadata", StringComparison.OrdinalIgnoreCase))
                    {
                        var metadata = Assert.IsAssignableFrom<IReadOnlyDictionary<string, string>>(sentProperties[entry.Key]);
                        NormalizationProperties.AssertSameMetadata(expected.ApStripped, metadata);
                    }
                    else
                    {
                        Assert.Same(entry.Value, sentProperties[entry.Key]);
                    }
                }
            }
        }
    }

    private static void AssertSameEntry(AdditionalPropertiesDictionary? caller, AdditionalPropertiesDictionary sent, string key)
    {
        object? expected = null;
        bool had = caller?.TryGetValue(key, out expected) == true;
        Assert.Equal(had, sent.TryGetValue(key, out object? actual));
        Assert.Same(expected, actual);
    }

    /// <summary>Checks that no record above Debug contains <paramref name="marker"/>.</summary>
    public static void AssertNotLoggedAboveDebug(IReadOnlyList<FakeLogRecord> logs, string marker)
    {
        foreach (FakeLogRecord record in logs)
        {
            if (record.Level <= LogLevel.Debug)
            {
                continue;
            }

            Assert.DoesNotContain(marker, record.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(marker, record.Exception?.ToString() ?? string.Empty, StringComparison.Ordinal);
            foreach (KeyValuePair<string, string?> pair in record.StructuredState ?? [])
            {
                Assert.DoesNotContain(marker, pair.Value ?? string.Empty, StringComparison.Ordinal);
            }
        }
    }

    private static List<KeyValuePair<string, string?>> ToNullable(List<KeyValuePair<string, string>> pairs) =>
        [.. pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))];
}

/// <summary>What the caller handed in, to prove afterwards that none of it was changed.</summary>
internal sealed class CallerSnapshot
{
    private Func<IChatClient, object?>? _factory;
    private AdditionalPropertiesDictionary? _properties;
    private List<KeyValuePair<string, object?>>? _entries;
    private object? _metadataObject;
    private List<KeyValuePair<string, string>>? _metadataPairs;
    private float? _temperature;

    public static CallerSnapshot Take(ChatOptions? options)
    {
        var snapshot = new CallerSnapshot();
        if (options is null)
        {
            return snapshot;
        }

        snapshot._factory = options.RawRepresentationFactory;
        snapshot._temperature = options.Temperature;
        snapshot._properties = options.AdditionalProperties;
        if (options.AdditionalProperties is { } properties)
        {
            snapshot._entries = [.. properties];
            if (properties.TryGetValue("metadata", out object? metadata))
            {
                snapshot._metadataObject = metadata;
                snapshot._metadataPairs = Pairs(metadata);
            }
        }

        return snapshot;
    }

    public void AssertUnchanged(ChatOptions? options)
    {
        if (options is null)
        {
            return;
        }

        Assert.Same(_factory, options.RawRepresentationFactory);
        Assert.Equal(_temperature, options.Temperature);
        Assert.Same(_properties, options.AdditionalProperties);
        if (_properties is not null)
        {
            var now = options.AdditionalProperties!.ToList();
            Assert.Equal(_entries!.Count, now.Count);
            foreach (KeyValuePair<string, object?> entry in _entries)
            {
                Assert.True(options.AdditionalProperties!.TryGetValue(entry.Key, out object? value), $"caller key {entry.Key} removed");
                Assert.Same(entry.Value, value);
            }

            if (_metadataObject is not null)
            {
                Assert.Equal(_metadataPairs, Pairs(_metadataObject));
            }
        }
    }

    private static List<KeyValuePair<string, string>>? Pairs(object? metadata) => metadata switch
    {
        IEnumerable<KeyValuePair<string, string>> pairs => [.. pairs],
        IEnumerable<KeyValuePair<string, object?>> pairs => [.. pairs.Select(p => new KeyValuePair<string, string>(p.Key, p.Value?.ToString() ?? "<null>"))],
        JsonElement json => [new("json", json.GetRawText())],
        _ => null,
    };
}
