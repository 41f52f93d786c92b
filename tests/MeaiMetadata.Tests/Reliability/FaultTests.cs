using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using OpenAI.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace MeaiMetadata.Tests.Reliability;

/// <summary>Failures around the layer: resolver, caller factory, inner client, cancellation. The layer never adds one.</summary>
public sealed class FaultTests
{
    public static TheoryData<StandInApi, bool> AllPaths => new()
    {
        { StandInApi.ChatCompletions, false },
        { StandInApi.ChatCompletions, true },
        { StandInApi.Responses, false },
        { StandInApi.Responses, true },
    };

    public static TheoryData<bool, bool> StreamingAndMetrics => new()
    {
        { false, false },
        { false, true },
        { true, false },
        { true, true },
    };

    // ---- resolver ----

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task Resolver_ThrowsAnything_RequestGoesOutUntagged_NothingThrown(StandInApi api, bool streaming)
    {
        Exception[] failures =
        [
            new InvalidOperationException("lookup failed"),
            new KeyNotFoundException("no such tenant"),
            new OperationCanceledException("cancelled, but not the call's token"),
            new NullReferenceException(),
        ];
        foreach (Exception failure in failures)
        {
            var logger = new FakeLogger();
            var inner = new OpenAIStandInClient(api);
            var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdResolver = () => throw failure }, logger);
            var options = new ChatOptions();

            string text = await Send.RequestAsync(client, options, streaming); // outside any session the resolver is asked

            Assert.Equal("ok", text);
            Assert.Same(options, inner.LastOptions);
            Assert.Empty(RawMetadata.Of(inner.LastRaw));
            Assert.Null(RawMetadata.StoreOf(inner.LastRaw));
            FakeLogRecord warning = Assert.Single(logger.Collector.GetSnapshot(), r => r.Level >= LogLevel.Warning);
            Assert.Same(failure, warning.Exception);
        }
    }

    /// <summary>
    /// The resolver is a synchronous <c>Func&lt;string?&gt;</c> called on the caller's thread inside
    /// <c>GetResponseAsync</c>, before any task is returned: it cannot see the call's token, and while it blocks the call
    /// blocks. A resolver that watches the token itself (captured) and throws <see cref="OperationCanceledException"/> is
    /// treated like any failing resolver: a warning, an untagged request. The inner client then sees the cancelled token,
    /// so the caller gets its cancellation from there (an inner client that ignores the token returns its result).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Resolver_BlocksUntilTheCallIsCancelled_CallerGetsItsCancellation_RequestUntagged(bool streaming)
    {
        var logger = new FakeLogger();
        using var cts = new CancellationTokenSource();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inner = new TokenHonouringClient();
        var client = new DifyMetadataChatClient(
            inner,
            new DifyMetadataOptions
            {
                AppIdResolver = () =>
                {
                    entered.TrySetResult();
                    cts.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(30));
                    cts.Token.ThrowIfCancellationRequested();
                    return "never";
                },
            },
            logger);

        Task<string> call = Task.Run(() => Send.RequestAsync(client, new ChatOptions(), streaming, cts.Token));
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await Task.Delay(50);
        Assert.False(call.IsCompleted); // the resolver blocks the call itself
        Assert.Equal(0, inner.Calls);

        await cts.CancelAsync();

        OperationCanceledException caught = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Same(inner.Thrown, caught); // the inner client's cancellation, passed on as it was
        Assert.Equal(cts.Token, caught.CancellationToken);
        Assert.Equal(1, inner.Calls);
        Assert.NotNull(inner.LastOptions); // passed on untouched
        Assert.Null(inner.LastOptions!.RawRepresentationFactory);
        FakeLogRecord warning = Assert.Single(logger.Collector.GetSnapshot(), r => r.Level >= LogLevel.Warning);
        Assert.IsAssignableFrom<OperationCanceledException>(warning.Exception);
        Assert.DoesNotContain("never", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resolver_ThrowsOperationCanceled_InnerIgnoresTheToken_CallerGetsTheResultUntagged()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdResolver = () => throw new OperationCanceledException(cts.Token) });

        ChatResponse response = await client.GetResponseAsync("hi", new ChatOptions(), cts.Token);

        Assert.Equal("ok", response.Text);
        Assert.Empty(inner.LastChat.Metadata);
        Assert.Null(inner.LastChat.StoredOutputEnabled);
    }

    // ---- caller factory ----

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task CallerFactory_Throws_SameExceptionReachesTheCaller_NothingLoggedAboveDebug(StandInApi api, bool streaming)
    {
        var logger = new FakeLogger();
        var inner = new OpenAIStandInClient(api);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions(), logger);
        var thrown = new FormatException("the caller's own bug");
        var options = new ChatOptions { RawRepresentationFactory = _ => throw thrown };

        using (DifySession.Begin("app"))
        {
            FormatException caught = await Assert.ThrowsAsync<FormatException>(() => Send.RequestAsync(client, options, streaming));
            Assert.Same(thrown, caught);
        }

        Assert.DoesNotContain(logger.Collector.GetSnapshot(), r => r.Level > LogLevel.Debug);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task CallerFactory_ReturnsAnUnrelatedType_LeftUntouched_TaggedOptionsOfTheClientsTypeSentInstead(StandInApi api, bool streaming)
    {
        // The OpenAI clients ignore raw options of any type but their own (they make new ones): the layer does the same,
        // with the tags on, so the request is not a missed tag.
        var logger = new FakeLogger();
        var inner = new OpenAIStandInClient(api);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions(), logger);
        var unrelated = new Dictionary<string, string> { ["mine"] = "untouched" };
        var options = new ChatOptions { RawRepresentationFactory = _ => unrelated };

        using (DifySession.Begin("app"))
        {
            Assert.Equal("ok", await Send.RequestAsync(client, options, streaming));
        }

        Assert.NotSame(unrelated, inner.RawReturnedByFactory);
        Assert.Equal("app", RawMetadata.Of(inner.RawReturnedByFactory)["dify_app_id"]);
        Assert.Equal(new Dictionary<string, string> { ["mine"] = "untouched" }, unrelated);
        Assert.DoesNotContain(logger.Collector.GetSnapshot(), r => r.Level > LogLevel.Debug);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public async Task CallerFactory_ReturnsTheOtherApisOptions_NotChanged_TheRequestIsTaggedAllTheSame(StandInApi api, bool streaming)
    {
        // A caller mistake: Chat Completions options for a Responses client or the other way round. The provider would
        // ignore them and send new options: the layer sends new, tagged options of the provider's type; nothing throws.
        var inner = new OpenAIStandInClient(api);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions());
        object wrong = api == StandInApi.ChatCompletions ? new OpenAI.Responses.CreateResponseOptions() : new ChatCompletionOptions();
        var options = new ChatOptions { RawRepresentationFactory = _ => wrong };

        using (DifySession.Begin("app"))
        {
            Assert.Equal("ok", await Send.RequestAsync(client, options, streaming));
        }

        Assert.NotSame(wrong, inner.RawReturnedByFactory);
        Assert.Empty(RawMetadata.Of(wrong));
        Assert.Equal("app", RawMetadata.Of(inner.LastRaw)["dify_app_id"]);
        Assert.True(RawMetadata.StoreOf(inner.LastRaw));
    }

    // ---- inner client ----

    [Theory]
    [MemberData(nameof(StreamingAndMetrics))]
    public async Task InnerThrows_SameExceptionReachesTheCaller_NothingLoggedAboveDebug(bool streaming, bool metrics)
    {
        foreach (bool synchronously in new[] { false, true })
        {
            var logger = new FakeLogger();
            var thrown = new HttpRequestException("connection reset");
            var inner = new TestChatClient
            {
                GetResponseAsyncCallback = (_, options, _) =>
                {
                    _ = options?.RawRepresentationFactory?.Invoke(new OpenAIStandInClient(StandInApi.ChatCompletions));
                    return synchronously ? throw thrown : Task.FromException<ChatResponse>(thrown);
                },
                GetStreamingResponseAsyncCallback = (_, options, ct) => ThrowingStream(options, thrown, afterFirst: synchronously, ct),
            };
            using var meters = metrics ? new MetricsScope() : null;
            var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions(), logger, meters?.Factory);

            using (DifySession.Begin("app"))
            {
                HttpRequestException caught = await Assert.ThrowsAsync<HttpRequestException>(() => Send.RequestAsync(client, new ChatOptions(), streaming));
                Assert.Same(thrown, caught);
            }

            Assert.DoesNotContain(logger.Collector.GetSnapshot(), r => r.Level > LogLevel.Debug);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task InnerCancelledMidStream_SameCancellationReachesTheCaller_NothingLoggedAboveDebug(bool metrics)
    {
        var logger = new FakeLogger();
        var inner = new TokenHonouringClient();
        using var meters = metrics ? new MetricsScope() : null;
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions(), logger, meters?.Factory);
        using var cts = new CancellationTokenSource();
        int received = 0;

        using (DifySession.Begin("app"))
        {
            OperationCanceledException caught = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync("hi", new ChatOptions(), cts.Token))
                {
                    received++;
                    await cts.CancelAsync(); // cancel after the first update, while the inner stream waits for more
                }
            });
            Assert.Same(inner.Thrown, caught);
            Assert.Equal(cts.Token, caught.CancellationToken);
        }

        Assert.Equal(1, received);
        Assert.Equal("app", RawMetadata.Of(inner.LastRaw)["dify_app_id"]); // it was a tagged request
        Assert.DoesNotContain(logger.Collector.GetSnapshot(), r => r.Level > LogLevel.Debug);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task InnerCancelledBeforeTheAnswer_SameCancellationReachesTheCaller(bool metrics)
    {
        var logger = new FakeLogger();
        var inner = new TokenHonouringClient { WaitBeforeAnswer = true };
        using var meters = metrics ? new MetricsScope() : null;
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions(), logger, meters?.Factory);
        using var cts = new CancellationTokenSource();

        Task<ChatResponse> call;
        using (DifySession.Begin("app"))
        {
            call = client.GetResponseAsync("hi", new ChatOptions(), cts.Token);
        }

        await cts.CancelAsync();
        OperationCanceledException caught = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.Same(inner.Thrown, caught);
        Assert.DoesNotContain(logger.Collector.GetSnapshot(), r => r.Level > LogLevel.Debug);
    }

    [Fact]
    public async Task MetricsScope_PutsTheUsageWrapperInThePath()
    {
        using var meters = new MetricsScope();
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"))
            {
                Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 3 },
            }),
        };
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions(), logger: null, meters.Factory);

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal(8, meters.Tokens.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    // ---- metadata the layer cannot read must not break the request ----

    [Fact]
    public async Task CallerJsonMetadata_WithLoneSurrogateEscape_RequestStillSucceeds()
    {
        var logger = new FakeLogger();
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions(), logger);
        JsonElement metadata = JsonDocument.Parse("{\"team\":\"search\",\"note\":\"a\\ud800b\",\"k\\udc00\":\"v\"}").RootElement.Clone();
        var options = new ChatOptions { AdditionalProperties = new() { ["metadata"] = metadata } };

        ChatResponse response;
        using (DifySession.Begin("app"))
        {
            response = await client.GetResponseAsync("hi", options);
        }

        // JSON that escapes a lone surrogate cannot be decoded: the caller's metadata is unreadable and the tags replace it,
        // with a warning naming its type; the request goes out tagged.
        Assert.Equal("ok", response.Text);
        Assert.Equal("app", inner.LastChat.Metadata["dify_app_id"]);
        var sent = (IReadOnlyDictionary<string, string>)inner.LastOptions!.AdditionalProperties!["metadata"]!;
        Assert.Equal(["dify_app_id", "dify_source"], sent.Keys.Order(StringComparer.Ordinal));
        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Level == Microsoft.Extensions.Logging.LogLevel.Warning && r.Message.Contains("JsonElement", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CallerJsonMetadata_WellFormed_IsMerged()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions());
        JsonElement metadata = JsonDocument.Parse("{\"team\":\"search\",\"n\":7,\"emoji\":\"\\ud83d\\ude00\",\"dify_app_id\":\"spoof\"}").RootElement.Clone();
        var options = new ChatOptions { AdditionalProperties = new() { ["metadata"] = metadata } };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        var sent = (IReadOnlyDictionary<string, string>)inner.LastOptions!.AdditionalProperties!["metadata"]!;
        Assert.Equal("search", sent["team"]);
        Assert.Equal("7", sent["n"]);
        Assert.Equal("\U0001F600", sent["emoji"]);
        Assert.Equal("app", sent["dify_app_id"]);
    }

    [Fact]
    public async Task CallerStoreFlag_AsJsonString_IsReadLikeTheStringForm()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions());
        var options = new ChatOptions { AdditionalProperties = new() { ["store"] = JsonDocument.Parse("\"false\"").RootElement.Clone() } };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.False(inner.LastChat.StoredOutputEnabled); // the explicit false reaches the wire
        Assert.Empty(inner.LastChat.Metadata);
        Assert.Null(options.RawRepresentationFactory);
    }

    private static async IAsyncEnumerable<ChatResponseUpdate> ThrowingStream(
        ChatOptions? options, Exception thrown, bool afterFirst, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        _ = options?.RawRepresentationFactory?.Invoke(new OpenAIStandInClient(StandInApi.ChatCompletions));
        await Task.Yield();
        if (afterFirst)
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, "o");
        }

        cancellationToken.ThrowIfCancellationRequested();
        throw thrown;
    }

    /// <summary>An inner client that honours its token and records the cancellation exception it threw.</summary>
    private sealed class TokenHonouringClient : IChatClient
    {
        private readonly OpenAIStandInClient _provider = new(StandInApi.ChatCompletions);

        public int Calls { get; private set; }

        public bool WaitBeforeAnswer { get; init; }

        public ChatOptions? LastOptions { get; private set; }

        public object? LastRaw { get; private set; }

        public OperationCanceledException? Thrown { get; private set; }

        public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Consume(options);
            try
            {
                if (WaitBeforeAnswer)
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }

                cancellationToken.ThrowIfCancellationRequested();
                return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"));
            }
            catch (OperationCanceledException ex)
            {
                Thrown = ex;
                throw;
            }
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
            IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            Consume(options);
            if (!cancellationToken.IsCancellationRequested)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, "first");
            }

            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException ex)
            {
                Thrown = ex;
                throw;
            }

            yield return new ChatResponseUpdate(ChatRole.Assistant, "never");
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => _provider.GetService(serviceType, serviceKey);

        public void Dispose()
        {
        }

        private void Consume(ChatOptions? options)
        {
            Calls++;
            LastOptions = options;
            LastRaw = options?.RawRepresentationFactory?.Invoke(_provider) ?? new ChatCompletionOptions();
        }
    }

    /// <summary>A meter factory with the token counter listened to, so the layer's usage-recording wrapper is in the path.</summary>
    private sealed class MetricsScope : IDisposable
    {
        private readonly ServiceProvider _services;

        public MetricsScope()
        {
            _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
            Factory = _services.GetRequiredService<IMeterFactory>();
            Tokens = new MetricCollector<long>(Factory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.TokenUsageCounter);
        }

        public IMeterFactory Factory { get; }

        public MetricCollector<long> Tokens { get; }

        public void Dispose()
        {
            Tokens.Dispose();
            _services.Dispose();
        }
    }
}
