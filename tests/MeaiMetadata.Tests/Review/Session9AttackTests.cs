using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using MeaiMetadata.Spend;
using MeaiMetadata.Tagging;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace MeaiMetadata.Tests.Review;

/// <summary>Session 9 attack: the count of stacked layers (a call no layer decides is counted by the innermost layer), the
/// stream's single finally (the inner enumerator disposed there), and the rewritten ReadPairs and Family. Each failing test
/// asserts a promise of README.md / docs/*.md.</summary>
public sealed class Session9AttackTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    public void Dispose() => _services.Dispose();

    private MetricCollector<long> Requests() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);

    private MetricCollector<long> Tokens() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.TokenUsageCounter);

    private static string Outcomes(MetricCollector<long> requests) =>
        string.Join(",", requests.GetMeasurementSnapshot().Select(m => (string?)m.Tags[DifyMetadataTelemetry.OutcomeTag]));

    private static TestChatClient Model(Action? onCall = null) => new()
    {
        GetResponseAsyncCallback = (_, _, _) =>
        {
            onCall?.Invoke();
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")) { Usage = new() { InputTokenCount = 10, OutputTokenCount = 1 } });
        },
    };

    // ---- 1. stacked layers: a call no layer decides is counted once, by the innermost layer ----

    /// <summary>Reported: with the resolver on the outer layer only, its failure never reaches the meter. As documented since
    /// (docs/behaviour.md): a call no layer decides is counted once, by the innermost layer it reaches, with that layer's
    /// outcome; the outer layer's resolver failure is its Warning in the log. Pinned so that a change is a decision.</summary>
    [Fact]
    public async Task Stacked_OuterResolverThrows_CountedOnceByTheInnerLayer()
    {
        using MetricCollector<long> requests = Requests();
        IChatClient inner = new DifyMetadataChatClient(Model(), new DifyMetadataOptions(), meterFactory: MeterFactory);
        IChatClient outer = new DifyMetadataChatClient(
            inner, new DifyMetadataOptions { AppIdResolver = () => throw new InvalidOperationException("tenant store down") }, meterFactory: MeterFactory);

        await outer.GetResponseAsync("hi");

        Assert.Equal("no_session", Outcomes(requests));
    }

    /// <summary>Reported: a response cache between two layers answers the second identical call without reaching the inner
    /// layer, and no layer counts it. As documented since (docs/behaviour.md): the innermost layer counts a call no layer
    /// decides, and a call a cache answers before it sent no model request. Pinned so that a change is a decision.</summary>
    [Fact]
    public async Task Stacked_CacheBetweenLayersAnswers_TheAnsweredCallIsNotCounted()
    {
        using MetricCollector<long> requests = Requests();
        IChatClient pipeline = new ChatClientBuilder(Model())
            .Use(inner => new DifyMetadataChatClient(inner, new DifyMetadataOptions(), meterFactory: MeterFactory)) // innermost layer
            .UseDistributedCache(new DictionaryCache())
            .Use(inner => new DifyMetadataChatClient(inner, new DifyMetadataOptions(), meterFactory: MeterFactory)) // outer layer
            .Build();

        await pipeline.GetResponseAsync("same question");
        await pipeline.GetResponseAsync("same question"); // answered by the cache

        Assert.Equal("no_session", Outcomes(requests));
    }

    // ---- 2. a stream's single finally ----

    /// <summary>docs/behaviour.md: "A stream is recorded when it ends or is disposed, with the usage update at its end" and
    /// "recorded once, when it ends (in finally ...)". The inner enumerator is now disposed first in the single outer finally:
    /// when its DisposeAsync throws (a response stream that fails to close, an inner layer's cleanup), the rest of the finally
    /// (ExitInnerCall, the budget's settlement, Record) never runs. Before 7ed7559 the dispose had its own try/finally.</summary>
    [Fact]
    public async Task Stream_InnerDisposeThrows_TheCallIsStillRecorded()
    {
        using MetricCollector<long> requests = Requests();
        using MetricCollector<long> tokens = Tokens();
        var model = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, _) => new ThrowingOnDispose(null) };
        IChatClient client = new DifyMetadataChatClient(model, new DifyMetadataOptions(), meterFactory: MeterFactory);

        using (DifySession.Begin("stream-app"))
        {
            await Assert.ThrowsAsync<IOException>(async () =>
            {
                await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync("hi"))
                {
                    _ = update;
                }
            });
        }

        Assert.Single(requests.GetMeasurementSnapshot()); // observed: no record (the stand-in has no mapping: unsupported_provider)
        Assert.Equal(11, tokens.GetMeasurementSnapshot().Sum(m => m.Value)); // observed: 0
    }

    /// <summary>docs/gateways.md: "The headers are current only while the layer's call runs (for a stream, while it is
    /// enumerated), never in the caller's flow afterwards" (work that captured the flow is the documented example of the
    /// tool's Task.Run). When the inner enumerator's DisposeAsync throws, ExitInnerCall is skipped: the decision stays "in
    /// call" for the life of the process, so work the stream started sends the app's gateway headers after the stream ended
    /// (and options of that decision keep covering inner layers).</summary>
    [Fact]
    public async Task Stream_InnerDisposeThrows_WorkItStartedSendsNoHeadersAfterItEnded()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<List<KeyValuePair<string, string>>?>? later = null;
        var model = new TestChatClient
        {
            GetStreamingResponseAsyncCallback = (_, _, _) => new ThrowingOnDispose(() => later = Task.Run(async () =>
            {
                await release.Task;
                return CurrentGatewayHeaders.Values; // what a policy would write for a request sent now in this flow
            })),
        };
        IChatClient client = new DifyMetadataChatClient(model, new DifyMetadataOptions { GatewayHeaders = { "Helicone" } }, meterFactory: MeterFactory);

        using (DifySession.Begin("stream-app"))
        {
            await Assert.ThrowsAsync<IOException>(async () =>
            {
                await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync("hi"))
                {
                    _ = update;
                }
            });

            release.SetResult();
            Assert.Null(await later!); // observed: [Helicone-Property-Dify-App-Id: stream-app, ...]
        }
    }

    /// <summary>Held (coverage). The stream disposed early by the consumer (break after the first update): the inner enumerator
    /// is disposed with the call's headers current, the call is recorded once, and nothing is current afterwards.</summary>
    [Fact]
    public async Task Stream_DisposedEarly_RecordedOnce_InnerDisposedWithHeaders_NothingAfter()
    {
        using MetricCollector<long> requests = Requests();
        List<KeyValuePair<string, string>>? atDispose = null;
        var model = new TestChatClient { GetStreamingResponseAsyncCallback = (_, _, ct) => Two(() => atDispose = CurrentGatewayHeaders.Values, ct) };
        IChatClient client = new DifyMetadataChatClient(model, new DifyMetadataOptions { GatewayHeaders = { "Helicone" } }, meterFactory: MeterFactory);

        using (DifySession.Begin("early-app"))
        {
            await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync("hi"))
            {
                Assert.Null(CurrentGatewayHeaders.Values); // the consumer's flow never sees them
                break;
            }

            Assert.Null(CurrentGatewayHeaders.Values);
        }

        Assert.Equal("early-app", Assert.Single(atDispose!, p => p.Key == "Helicone-Property-Dify-App-Id").Value);
        Assert.Equal("unsupported_provider", Outcomes(requests)); // once (the stand-in has no OpenAI mapping)
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> Two(Action onDispose, [EnumeratorCancellation] CancellationToken ct = default)
    {
        try
        {
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, "a");
            await Task.Delay(1, ct);
            yield return new ChatResponseUpdate(ChatRole.Assistant, "b");
        }
        finally
        {
            onDispose();
        }
    }

    // ---- 3. the rewritten baggage handler (held, coverage) ----

    /// <summary>Held. docs/across-services.md: the app id goes first in the header, the other members are kept, a
    /// dify.app_id among them (also percent-encoded) is replaced; OpenTelemetry's Baggage.Current says the same inside the send
    /// only, for the sync Send as for SendAsync, and the caller's Baggage.Current is unchanged afterwards.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task BaggageHandler_SyncAndAsync_HeaderAndOpenTelemetryInsideTheSendOnly(bool sync)
    {
        var capture = new BaggageCapture();
        using var client = new HttpClient(new MeaiMetadata.Http.DifyBaggageHandler(capture));
        OpenTelemetry.Baggage.Current = OpenTelemetry.Baggage.Create(new Dictionary<string, string> { ["x"] = "1", ["dify.app_id"] = "forged" });
        try
        {
            using (DifySession.Begin("edge-app", propagateAsBaggage: true))
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1/");
                request.Headers.TryAddWithoutValidation("baggage", "k%20a=v%2C1;p, ,dify%2Eapp_id=forged,DIFY.APP_ID=other");
                request.Headers.TryAddWithoutValidation("baggage", "z=9");
                (sync ? client.Send(request) : await client.SendAsync(request)).Dispose();
            }

            Assert.Equal("dify.app_id=edge-app,k%20a=v%2C1;p,DIFY.APP_ID=other,z=9", capture.Header);
            Assert.Equal("dify.app_id=edge-app|x=1", capture.OpenTelemetry);
            Assert.Equal("x=1|dify.app_id=forged", string.Join("|", OpenTelemetry.Baggage.Current.GetBaggage().Select(p => p.Key + "=" + p.Value)));
        }
        finally
        {
            OpenTelemetry.Baggage.Current = default;
        }

        // Without OpenTelemetry baggage of the caller: the header's members, decoded, after the app id.
        using (DifySession.Begin("edge-app", propagateAsBaggage: true))
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1/");
            request.Headers.TryAddWithoutValidation("baggage", "k%20a=v%2C1;p,=novalue,bare");
            (sync ? client.Send(request) : await client.SendAsync(request)).Dispose();
        }

        Assert.Equal("dify.app_id=edge-app|k a=v,1", capture.OpenTelemetry);
        Assert.Equal(0, OpenTelemetry.Baggage.Current.Count);
    }

    private sealed class BaggageCapture : HttpMessageHandler
    {
        public string? Header { get; private set; }

        public string? OpenTelemetry { get; private set; }

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Header = request.Headers.TryGetValues("baggage", out IEnumerable<string>? values) ? string.Join(",", values) : null;
            OpenTelemetry = string.Join("|", global::OpenTelemetry.Baggage.Current.GetBaggage().Select(p => p.Key + "=" + p.Value));
            return new HttpResponseMessage(System.Net.HttpStatusCode.OK);
        }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(Send(request, cancellationToken));
    }

    // ---- 4. the rewritten pure functions, against the code they replaced (held) ----

    /// <summary>Held. DifyPriceTable.Family (now a generated regex) agrees with the code it replaced (c159154) on 300,000
    /// random ids over a dense alphabet, and on the documented edges.</summary>
    [Fact]
    public void Family_AgreesWithThePreviousImplementation()
    {
        Assert.Equal("gpt-4o-mini", DifyPriceTable.Family("gpt-4o-mini-2024-07-18"));
        Assert.Equal("gpt-4", DifyPriceTable.Family("gpt-4-0613"));
        Assert.Null(DifyPriceTable.Family("gpt-4o-1234"));
        Assert.Null(DifyPriceTable.Family("-0613"));
        Assert.Null(DifyPriceTable.Family("gpt-4-0613\n"));
        Assert.Null(DifyPriceTable.Family("gpt-4-٠٦١٣")); // Arabic-Indic digits are not a snapshot
        const string Alphabet = "gpt-40123-1-0-2-9";
        var random = new Random(9);
        for (int i = 0; i < 300_000; i++)
        {
            var chars = new char[random.Next(0, 16)];
            for (int j = 0; j < chars.Length; j++)
            {
                chars[j] = Alphabet[random.Next(Alphabet.Length)];
            }

            string id = new(chars);
            Assert.True(OldFamily(id) == DifyPriceTable.Family(id), id);
        }
    }

    /// <summary>Held. WireMetadata.ReadPairs (now one switch, JsonElement.Parse) reads what the code it replaced read.</summary>
    [Theory]
    [InlineData("""{"a":"1","a":"2"}""")]
    [InlineData("""{"a":{"b":"1"},"c":[1,2],"d":"x"}""")]
    [InlineData("""{"n":1.50e2,"t":true,"f":false,"z":null,"s":"v"}""")]
    [InlineData("""{"lone":"\uD800"}""")]
    [InlineData("""{"\uDC00":"key is lone"}""")]
    [InlineData(" \t\r\n{\"a\":\"1\"}")]
    [InlineData("\u00A0{\"a\":\"1\"}")]
    [InlineData("\uFEFF{\"a\":\"1\"}")]
    [InlineData("""{"a":"1"} trailing""")]
    [InlineData("""{"a":"1",}""")]
    [InlineData("""{"inner":"{\"x\":\"y\"}"}""")]
    [InlineData("""[{"a":"1"}]""")]
    [InlineData("{")]
    [InlineData("")]
    public void ReadPairs_AgreesWithThePreviousImplementation(string text)
    {
        foreach (object? value in Values(text))
        {
            Assert.Equal(Show(OldReadPairs(value)), Show(WireMetadata.ReadPairs(value)));
        }

        static IEnumerable<object?> Values(string text)
        {
            yield return text;
            yield return JsonSerializer.SerializeToElement(text); // a JSON string holding the text
            JsonElement? element = null;
            try
            {
                element = JsonDocument.Parse(text).RootElement;
            }
            catch (JsonException)
            {
            }

            if (element is { } e)
            {
                yield return e;
                yield return new Dictionary<string, object?> { ["k"] = e, ["s"] = "x", ["i"] = 3, ["b"] = true };
                if (e.ValueKind == JsonValueKind.Object && !text.Contains("\"a\":\"1\",\"a\"", StringComparison.Ordinal))
                {
                    yield return JsonNode.Parse(text);
                }
            }
        }
    }

    private static string Show(Dictionary<string, string>? pairs) =>
        pairs is null ? "null" : string.Join("|", pairs.Select(p => p.Key + "=" + p.Value));

    // The code the session replaced (git show c159154:src/MeaiMetadata/Spend/DifyPriceTable.cs), as the oracle.
    private static string? OldFamily(string model)
    {
        static bool Digits(ReadOnlySpan<char> s)
        {
            foreach (char c in s)
            {
                if (!char.IsAsciiDigit(c))
                {
                    return false;
                }
            }

            return true;
        }

        static bool MonthAndDay(ReadOnlySpan<char> month, ReadOnlySpan<char> day) =>
            Digits(month) && Digits(day) && int.Parse(month, CultureInfo.InvariantCulture) is >= 1 and <= 12 &&
            int.Parse(day, CultureInfo.InvariantCulture) is >= 1 and <= 31;

        ReadOnlySpan<char> id = model;
        if (id.Length > 11 && id[^11] == '-' && id[^6] == '-' && id[^3] == '-' && Digits(id[^10..^6]) && MonthAndDay(id[^5..^3], id[^2..]))
        {
            return model[..^11];
        }

        return id.Length > 5 && id[^5] == '-' && MonthAndDay(id[^4..^2], id[^2..]) ? model[..^5] : null;
    }

    // The code the session replaced (git show c159154:src/MeaiMetadata/Tagging/WireMetadata.cs), as the oracle.
    private static Dictionary<string, string>? OldReadPairs(object? value)
    {
        try
        {
            return TryReadPairs(value);
        }
        catch (InvalidOperationException)
        {
            return null;
        }

        static Dictionary<string, string>? TryReadPairs(object? value)
        {
            var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
            switch (value)
            {
                case null:
                    break;
                case IEnumerable<KeyValuePair<string, string>> strings:
                    foreach (KeyValuePair<string, string> pair in strings)
                    {
                        Add(pairs, pair.Key, pair.Value);
                    }

                    break;
                case IEnumerable<KeyValuePair<string, object?>> objects:
                    foreach (KeyValuePair<string, object?> pair in objects)
                    {
                        Add(pairs, pair.Key, Text(pair.Value));
                    }

                    break;
                case JsonObject node:
                    foreach (KeyValuePair<string, JsonNode?> pair in node)
                    {
                        Add(pairs, pair.Key, Text(pair.Value));
                    }

                    break;
                case JsonElement { ValueKind: JsonValueKind.Object } element:
                    foreach (JsonProperty property in element.EnumerateObject())
                    {
                        Add(pairs, property.Name, Text(property.Value));
                    }

                    break;
                case string or JsonElement { ValueKind: JsonValueKind.String } when Text(value) is { } json && json.TrimStart().StartsWith('{'):
                    try
                    {
                        using JsonDocument parsed = JsonDocument.Parse(json);
                        return TryReadPairs(parsed.RootElement);
                    }
                    catch (JsonException)
                    {
                        return null;
                    }

                default:
                    return null;
            }

            return pairs;
        }

        static void Add(Dictionary<string, string> pairs, string? key, string? value)
        {
            if (key is not null && value is not null)
            {
                pairs[key] = value;
            }
        }

        static string? Text(object? value) => value switch
        {
            string text => text,
            bool flag => flag ? "true" : "false",
            JsonElement { ValueKind: JsonValueKind.String } json => json.GetString(),
            JsonElement { ValueKind: JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False } json => json.GetRawText(),
            JsonValue node when node.TryGetValue(out JsonElement element) => Text(element),
            JsonValue node when node.TryGetValue(out string? text) => text,
            JsonValue node => node.ToJsonString(),
            IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
            _ => null,
        };
    }

    /// <summary>A stream of one text update and a usage update (10 in, 1 out) whose enumerator's DisposeAsync throws, as a
    /// response stream that fails to close does; <paramref name="onFirst"/> runs when the first update is produced.</summary>
    private sealed class ThrowingOnDispose(Action? onFirst) : IAsyncEnumerable<ChatResponseUpdate>
    {
        public IAsyncEnumerator<ChatResponseUpdate> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(onFirst);

        private sealed class Enumerator(Action? onFirst) : IAsyncEnumerator<ChatResponseUpdate>
        {
            private int _index = -1;

            public ChatResponseUpdate Current { get; private set; } = null!;

            public async ValueTask<bool> MoveNextAsync()
            {
                await Task.Yield();
                _index++;
                if (_index == 0)
                {
                    onFirst?.Invoke();
                    Current = new ChatResponseUpdate(ChatRole.Assistant, "ok") { ModelId = "gpt-4o-mini" };
                    return true;
                }

                if (_index == 1)
                {
                    Current = new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { InputTokenCount = 10, OutputTokenCount = 1 })] };
                    return true;
                }

                return false;
            }

            public ValueTask DisposeAsync() => throw new IOException("the response stream failed to close");
        }
    }

    /// <summary>An in-memory IDistributedCache.</summary>
    private sealed class DictionaryCache : IDistributedCache
    {
        private readonly ConcurrentDictionary<string, byte[]> _entries = new(StringComparer.Ordinal);

        public byte[]? Get(string key) => _entries.TryGetValue(key, out byte[]? value) ? value : null;

        public Task<byte[]?> GetAsync(string key, CancellationToken token = default) => Task.FromResult(Get(key));

        public void Refresh(string key)
        {
        }

        public Task RefreshAsync(string key, CancellationToken token = default) => Task.CompletedTask;

        public void Remove(string key) => _entries.TryRemove(key, out _);

        public Task RemoveAsync(string key, CancellationToken token = default)
        {
            Remove(key);
            return Task.CompletedTask;
        }

        public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => _entries[key] = value;

        public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
        {
            _entries[key] = value;
            return Task.CompletedTask;
        }
    }
}
