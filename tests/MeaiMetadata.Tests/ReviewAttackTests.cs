using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using MeaiMetadata.Gateways;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using OpenAI.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace MeaiMetadata.Tests;

/// <summary>A fresh reviewer's attacks on the small core (cf2357f). Each test states the promise it checks.</summary>
public sealed class ReviewAttackTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    public void Dispose() => _services.Dispose();

    private MetricCollector<long> Requests() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);

    private MetricCollector<long> Tokens() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.TokenUsageCounter);

    private static long Input(MetricCollector<long> tokens) =>
        tokens.GetMeasurementSnapshot().Where(m => (string?)m.Tags[DifyMetadataTelemetry.TokenTypeTag] == "input").Sum(m => m.Value);

    private static TestChatClient Answering(Func<ChatOptions?, ChatResponse>? answer = null) => new()
    {
        GetServiceCallback = (type, key) => new OpenAIStandInClient(StandInApi.ChatCompletions).GetService(type, key),
        GetResponseAsyncCallback = (_, options, _) =>
        {
            _ = options?.RawRepresentationFactory?.Invoke(new OpenAIStandInClient(StandInApi.ChatCompletions));
            return Task.FromResult(answer?.Invoke(options) ?? new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"))
            {
                Usage = new UsageDetails { InputTokenCount = 10, OutputTokenCount = 1 },
            });
        },
    };

    // ---- two stacked layers ----

    /// <summary>"Of two stacked layers the outer one records": with StorePolicy LeaveUnset on Chat Completions the outer
    /// layer passes the caller's options on as they are, so the inner layer decides again and records the tokens again.</summary>
    [Fact]
    public async Task StackedLayers_LeaveUnset_ChatCompletions_TokensRecordedOnce()
    {
        using MetricCollector<long> tokens = Tokens();
        using MetricCollector<long> requests = Requests();
        var options = new DifyMetadataOptions { StorePolicy = DifyStorePolicy.LeaveUnset };
        IChatClient client = new DifyMetadataChatClient(new DifyMetadataChatClient(Answering(), options, meterFactory: MeterFactory), options, meterFactory: MeterFactory);

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal(10, Input(tokens)); // observed: 20 (the request's tokens and cost counted twice)
        Assert.Single(requests.GetMeasurementSnapshot()); // observed: 2 x store_disabled
    }

    /// <summary>"Two layers for the same app: one set of keys; the inner layer passes the request on as it is" — and the
    /// outer call's gateway headers must stay current for the provider's HTTP send. The inner pass-through hides them.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task StackedLayers_SameApp_GatewayHeadersStayCurrentForTheProvider(bool innerEnabled)
    {
        List<KeyValuePair<string, string>>? seen = null;
        var inner = Answering(_ =>
        {
            seen = CurrentGatewayHeaders.Values;
            return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"));
        });
        var logs = new FakeLogCollector();
        IChatClient client = new DifyMetadataChatClient(
            new DifyMetadataChatClient(inner, new DifyMetadataOptions { Enabled = innerEnabled, GatewayHeaders = { "Helicone" } }),
            new DifyMetadataOptions { GatewayHeaders = { "Helicone" } },
            new FakeLogger(logs));

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.NotNull(seen); // observed: null, the provider's policy writes no header
        Assert.DoesNotContain(logs.GetSnapshot(), r => r.Level == LogLevel.Warning); // observed: the "add AddDifyMetadataHeaders()" Warning
    }

    /// <summary>"A model request that a tool makes through a client with the layer is that layer's own call and its own
    /// record" (docs/behaviour.md). Defect 1 is fixed only when the tool re-enters the very same layer instance: through a
    /// second pipeline (another client with its own UseDifyMetadata) the sub-request's tokens are never recorded.</summary>
    [Fact]
    public async Task ToolSubRequest_ThroughAnotherPipelineWithTheLayer_ItsTokensAreRecorded()
    {
        using MetricCollector<long> tokens = Tokens();
        int sent = 0;
        TestChatClient Model() => new()
        {
            GetServiceCallback = (type, key) => new OpenAIStandInClient(StandInApi.ChatCompletions).GetService(type, key),
            GetResponseAsyncCallback = (messages, options, ct) =>
            {
                _ = options?.RawRepresentationFactory?.Invoke(new OpenAIStandInClient(StandInApi.ChatCompletions));
                Interlocked.Increment(ref sent);
                bool answered = messages.Any(m => m.Contents.OfType<FunctionResultContent>().Any()) || messages.Any(m => m.Text == "sub");
                ChatMessage reply = answered ? new(ChatRole.Assistant, "ok") : new(ChatRole.Assistant, [new FunctionCallContent("c1", "lookup")]);
                return Task.FromResult(new ChatResponse(reply) { Usage = new UsageDetails { InputTokenCount = 10, OutputTokenCount = 1 } });
            },
        };
        IChatClient subClient = new ChatClientBuilder(Model()).UseDifyMetadata().Build(_services);
        AIFunction tool = AIFunctionFactory.Create(
            async () => (await subClient.GetResponseAsync("sub", FunctionInvokingChatClient.CurrentContext!.Options)).Text, "lookup");
        IChatClient client = new ChatClientBuilder(Model()).UseDifyMetadata().UseFunctionInvocation().Build(_services);

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", new ChatOptions { Tools = [tool] });
        }

        Assert.Equal(3, sent);
        Assert.Equal(30, Input(tokens)); // observed: 20, the sub-request was tagged but never recorded
    }

    // ---- streaming: one record per call ----

    /// <summary>"Every call: one record" — a streaming call whose inner client throws when the stream is opened (as
    /// OpenAIChatClient does when the caller's RawRepresentationFactory throws) is not recorded at all; the non-streaming
    /// call is.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task InnerThrowsWhenOpened_CallStillRecordedOnce(bool streaming)
    {
        using MetricCollector<long> requests = Requests();
        var inner = new TestChatClient
        {
            GetServiceCallback = (type, key) => new OpenAIStandInClient(StandInApi.ChatCompletions).GetService(type, key),
            GetResponseAsyncCallback = (_, options, _) =>
            {
                _ = options!.RawRepresentationFactory!(new OpenAIStandInClient(StandInApi.ChatCompletions));
                return Task.FromResult(new ChatResponse());
            },
            GetStreamingResponseAsyncCallback = (_, options, _) =>
            {
                _ = options!.RawRepresentationFactory!(new OpenAIStandInClient(StandInApi.ChatCompletions)); // synchronously, like MEAI.OpenAI
                return AsyncEnumerable.Empty<ChatResponseUpdate>();
            },
        };
        var client = new DifyMetadataChatClient(inner, meterFactory: MeterFactory);
        var options = new ChatOptions { RawRepresentationFactory = _ => throw new InvalidOperationException("caller's factory") };

        using (DifySession.Begin("app"))
        {
            _ = await Assert.ThrowsAsync<InvalidOperationException>(() => Send.RequestAsync(client, options, streaming));
        }

        Assert.Single(requests.GetMeasurementSnapshot()); // observed for streaming: 0 records
    }

    /// <summary>An abandoned, a cancelled and a throwing stream are each recorded once; nothing throws from recording.</summary>
    [Fact]
    public async Task Streams_AbandonedCancelledThrowing_RecordedOnceEach()
    {
        using MetricCollector<long> requests = Requests();
        using MetricCollector<long> tokens = Tokens();
        bool fail = false;
        var inner = new TestChatClient
        {
            GetServiceCallback = (type, key) => new OpenAIStandInClient(StandInApi.ChatCompletions).GetService(type, key),
            GetStreamingResponseAsyncCallback = (_, _, ct) => Updates(fail, ct),
        };
        var client = new DifyMetadataChatClient(inner, meterFactory: MeterFactory);
        using (DifySession.Begin("app"))
        {
            await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hi"))
            {
                break; // abandoned
            }

            using var cts = new CancellationTokenSource();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hi", cancellationToken: cts.Token))
                {
                    cts.Cancel();
                }
            });

            fail = true;
            await Assert.ThrowsAsync<InvalidOperationException>(async () =>
            {
                await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hi"))
                {
                }
            });
        }

        Assert.Equal(3, requests.GetMeasurementSnapshot().Count);
        Assert.Equal(10, Input(tokens)); // only the failed stream had its usage update before it stopped

        static async IAsyncEnumerable<ChatResponseUpdate> Updates(bool fail, [EnumeratorCancellation] CancellationToken ct)
        {
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, "o");
            ct.ThrowIfCancellationRequested();
            yield return new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { InputTokenCount = 10, OutputTokenCount = 1 })] };
            ct.ThrowIfCancellationRequested();
            if (fail)
            {
                throw new InvalidOperationException("stream broke");
            }

            yield return new ChatResponseUpdate(ChatRole.Assistant, "k");
        }
    }

    // ---- dify_* keys, store, channels ----

    /// <summary>"More than 16 pairs ... with one Warning naming them": the caller's AdditionalProperties metadata over the
    /// limit logs one Warning per channel (two per request, more in a tool loop).</summary>
    [Fact]
    public async Task Over16Pairs_FromAdditionalProperties_OneWarning()
    {
        var logs = new FakeLogCollector();
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, null, new FakeLogger(logs));
        var metadata = Enumerable.Range(0, 17).ToDictionary(i => $"k{i:00}", i => $"v{i}");
        var options = new ChatOptions { AdditionalProperties = new() { ["metadata"] = metadata } };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.Equal(16, inner.LastChat.Metadata.Count);
        Assert.Single(logs.GetSnapshot(), r => r.Level == LogLevel.Warning); // observed: 2
    }

    /// <summary>Limits after merging both channels, many shapes: at most 16 pairs, keys 1..64 chars, values at most 512,
    /// no lone surrogate, dify_app_id always the layer's.</summary>
    [Fact]
    public async Task Limits_AfterMergingRawAndAdditionalProperties_AlwaysHold()
    {
        var random = new Random(19);
        string Text(int max)
        {
            int length = random.Next(0, max);
            var chars = new char[length];
            for (int i = 0; i < length; i++)
            {
                chars[i] = random.Next(10) switch { 0 => '\uD83D', 1 => '\uDE80', 2 => 'é', _ => (char)random.Next('a', 'z' + 1) };
            }

            return new string(chars);
        }

        for (int round = 0; round < 500; round++)
        {
            var inner = new OpenAIStandInClient(random.Next(2) == 0 ? StandInApi.ChatCompletions : StandInApi.Responses);
            var client = new DifyMetadataChatClient(inner);
            var raw = Enumerable.Range(0, random.Next(0, 20)).Select(_ => (Text(80), Text(700))).ToList();
            var extra = Enumerable.Range(0, random.Next(0, 20)).Select(_ => (Text(80), Text(700))).ToList();
            if (random.Next(3) == 0)
            {
                raw.Add(("dify_app_id", "spoof"));
            }

            var options = new ChatOptions
            {
                RawRepresentationFactory = _ =>
                {
                    object o = inner.Api == StandInApi.ChatCompletions ? new ChatCompletionOptions() : new OpenAI.Responses.CreateResponseOptions();
                    IDictionary<string, string> m = RawMetadata.Of(o);
                    foreach ((string k, string v) in raw)
                    {
                        m[k] = v;
                    }

                    return o;
                },
                AdditionalProperties = new() { ["metadata"] = extra.GroupBy(p => p.Item1).ToDictionary(g => g.Key, g => g.First().Item2) },
            };
            string app = Text(600) + "x";
            using (DifySession.Begin(app))
            {
                await client.GetResponseAsync("hi", options);
            }

            IDictionary<string, string> sent = RawMetadata.Of(inner.LastRaw);
            Assert.InRange(sent.Count, 1, 16);
            Assert.All(sent, p =>
            {
                Assert.InRange(p.Key.Length, 1, 64);
                Assert.InRange(p.Value.Length, 0, 512);
                Assert.Equal(p.Key, Tagging.WireMetadata.Normalize(p.Key, 64));
                Assert.Equal(p.Value, Tagging.WireMetadata.Normalize(p.Value, 512));
            });
            Assert.Equal(Tagging.WireMetadata.Normalize(app, 512), sent["dify_app_id"]);
        }
    }

    // ---- blank ids ----

    /// <summary>"Blank means no app, everywhere": an id whose first 512 characters are white space is sent as a blank
    /// dify_app_id (the id is cut to 512 after the blank check).</summary>
    [Fact]
    public async Task AppIdBlankAfterTheCut_NoApp()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner);

        using (DifySession.Begin(new string(' ', 600) + "x"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.False(inner.LastChat.Metadata.ContainsKey("dify_app_id")); // observed: 512 spaces
    }

    // ---- the meter's model tag ----

    /// <summary>The tag is gen_ai.request.model ("the requested model"), but it now carries the response's model: OpenAI
    /// answers with dated snapshots, so every dashboard series changes name and cardinality grows.</summary>
    [Fact]
    public async Task ModelTag_IsTheRequestedModel()
    {
        using var cost = new MetricCollector<double>(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.CostCounter);
        var client = new DifyMetadataChatClient(
            Answering(_ => new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"))
            {
                ModelId = "gpt-4o-mini-2024-07-18",
                Usage = new UsageDetails { InputTokenCount = 10, OutputTokenCount = 1 },
            }),
            meterFactory: MeterFactory);

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", new ChatOptions { ModelId = "gpt-4o-mini" });
        }

        Assert.Equal("gpt-4o-mini", Assert.Single(cost.GetMeasurementSnapshot()).Tags[DifyMetadataTelemetry.ModelTag]); // observed: the snapshot
    }

    // ---- caller's objects ----

    /// <summary>The caller's ChatOptions, AdditionalProperties and metadata objects are unchanged on every path.</summary>
    [Theory]
    [InlineData("session")]
    [InlineData("call")]
    [InlineData("store-false")]
    [InlineData("none")]
    [InlineData("stacked")]
    [InlineData("leave-unset")]
    public async Task CallersObjects_NeverChanged(string path)
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var options = new DifyMetadataOptions { StorePolicy = path == "leave-unset" ? DifyStorePolicy.LeaveUnset : DifyStorePolicy.EnableWhenUnset };
        IChatClient client = path == "stacked" ? new DifyMetadataChatClient(new DifyMetadataChatClient(inner, options), options) : new DifyMetadataChatClient(inner, options);
        var callerMetadata = new Dictionary<string, string> { ["team"] = "search", ["dify_app_id"] = "spoof" };
        Func<IChatClient, object?> factory = _ => new ChatCompletionOptions();
        var chatOptions = new ChatOptions
        {
            ModelId = "m",
            RawRepresentationFactory = factory,
            AdditionalProperties = new() { ["metadata"] = callerMetadata, ["other"] = 1 },
        };
        if (path == "call")
        {
            chatOptions.WithDifyAppId("billing");
        }

        if (path == "store-false")
        {
            chatOptions.AdditionalProperties["store"] = false;
        }

        string[] keysBefore = [.. chatOptions.AdditionalProperties.Keys.Order()];
        using (path == "none" ? null : DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", chatOptions);
            await client.GetStreamingResponseAsync("hi", chatOptions).ToChatResponseAsync();
        }

        Assert.Same(factory, chatOptions.RawRepresentationFactory);
        Assert.Equal(keysBefore, chatOptions.AdditionalProperties.Keys.Order());
        Assert.Same(callerMetadata, chatOptions.AdditionalProperties["metadata"]);
        Assert.Equal(new Dictionary<string, string> { ["team"] = "search", ["dify_app_id"] = "spoof" }, callerMetadata);
        Assert.Equal("m", chatOptions.ModelId);
    }

    // ---- configuration reload ----

    /// <summary>A reload whose values do not bind (a number that is not one) is refused the same way.</summary>
    [Fact]
    public async Task ReloadThatDoesNotBind_Refused_OneError_LayerWorks()
    {
        IConfigurationRoot configuration = new ConfigurationBuilder().AddInMemoryCollection([new("DifyMetadata:Source", "good")]).Build();
        var collector = new FakeLogCollector();
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var services = new ServiceCollection()
            .AddLogging(b => b.AddProvider(new FakeLoggerProvider(collector)))
            .AddDifyMetadata(configuration.GetSection("DifyMetadata"));
        services.AddChatClient(inner).UseDifyMetadata(o => o.GatewayHeaders.Add("Helicone"));
        using ServiceProvider provider = services.BuildServiceProvider();
        IChatClient client = provider.GetRequiredService<IChatClient>();

        configuration["DifyMetadata:Prices:my-model:InputPerMillion"] = "lots";
        configuration["DifyMetadata:GatewayHeaders:0"] = "Nope";
        Assert.Null(Record.Exception(configuration.Reload));
        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal("good", inner.LastChat.Metadata["dify_source"]);
        Assert.Single(collector.GetSnapshot(), r => r.Level == LogLevel.Error);
    }

    // ---- concurrency ----

    /// <summary>Many parallel requests of different apps (sessions and WithDifyAppId) through one client: each tagged and
    /// counted with its own app.</summary>
    [Fact]
    public async Task Parallel_DifferentApps_EachTaggedWithItsOwn()
    {
        using MetricCollector<long> tokens = Tokens();
        var wrong = 0;
        var inner = new TestChatClient
        {
            GetServiceCallback = (type, key) => new OpenAIStandInClient(StandInApi.ChatCompletions).GetService(type, key),
            GetResponseAsyncCallback = async (messages, options, _) =>
            {
                await Task.Yield();
                var raw = (ChatCompletionOptions)options!.RawRepresentationFactory!(new OpenAIStandInClient(StandInApi.ChatCompletions))!;
                if (raw.Metadata["dify_app_id"] != messages.Last().Text)
                {
                    Interlocked.Increment(ref wrong);
                }

                return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")) { Usage = new UsageDetails { InputTokenCount = 1, OutputTokenCount = 0 } };
            },
        };
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { GatewayHeaders = { "LiteLLM" } }, meterFactory: MeterFactory);

        await Parallel.ForEachAsync(Enumerable.Range(0, 4000), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
        {
            string app = "app-" + (i % 50);
            if (i % 2 == 0)
            {
                using (DifySession.Begin(app))
                {
                    await client.GetResponseAsync(app, cancellationToken: ct);
                }
            }
            else
            {
                await client.GetResponseAsync(app, new ChatOptions().WithDifyAppId(app), ct);
            }
        });

        Assert.Equal(0, wrong);
        Assert.Equal(4000, Input(tokens));
        Assert.All(
            tokens.GetMeasurementSnapshot().Where(m => (string?)m.Tags[DifyMetadataTelemetry.TokenTypeTag] == "input").GroupBy(m => (string?)m.Tags[DifyMetadataTelemetry.AppIdTag]),
            g => Assert.Equal(80, g.Sum(m => m.Value)));
    }

    // ---- tool loops ----

    /// <summary>Inside the loop each model request is one record; outside it the whole loop is one, with summed usage;
    /// streaming too.</summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(false, true)]
    public async Task ToolLoop_RecordsFollowWhereTheLayerStands(bool layerInside, bool streaming)
    {
        using MetricCollector<long> requests = Requests();
        using MetricCollector<long> tokens = Tokens();
        var inner = new TestChatClient
        {
            GetServiceCallback = (type, key) => new OpenAIStandInClient(StandInApi.ChatCompletions).GetService(type, key),
        };
        inner.GetResponseAsyncCallback = (messages, options, _) =>
        {
            var raw = (ChatCompletionOptions)options!.RawRepresentationFactory!(new OpenAIStandInClient(StandInApi.ChatCompletions))!;
            Assert.Equal("app", raw.Metadata["dify_app_id"]);
            bool answered = messages.Any(m => m.Contents.OfType<FunctionResultContent>().Any());
            ChatMessage reply = answered ? new(ChatRole.Assistant, "ok") : new(ChatRole.Assistant, [new FunctionCallContent("c1", "lookup")]);
            return Task.FromResult(new ChatResponse(reply) { Usage = new UsageDetails { InputTokenCount = 10, OutputTokenCount = 1 } });
        };
        inner.GetStreamingResponseAsyncCallback = (messages, options, ct) => Stream(inner, messages, options, ct);
        AIFunction tool = AIFunctionFactory.Create(() => "sunny", "lookup");
        var builder = new ChatClientBuilder(inner);
        IChatClient client = (layerInside ? builder.UseFunctionInvocation().UseDifyMetadata() : builder.UseDifyMetadata().UseFunctionInvocation()).Build(_services);

        using (DifySession.Begin("app"))
        {
            await Send.RequestAsync(client, new ChatOptions { Tools = [tool] }, streaming);
        }

        Assert.Equal(layerInside ? 2 : 1, requests.GetMeasurementSnapshot().Count);
        Assert.Equal(20, Input(tokens));

        static async IAsyncEnumerable<ChatResponseUpdate> Stream(TestChatClient c, IEnumerable<ChatMessage> m, ChatOptions? o, [EnumeratorCancellation] CancellationToken ct)
        {
            foreach (ChatResponseUpdate u in (await c.GetResponseAsyncCallback!(m, o, ct)).ToChatResponseUpdates())
            {
                yield return u;
            }
        }
    }

    // ---- throwing things of the caller's ----

    /// <summary>A throwing resolver, a throwing AdditionalProperties metadata enumerator and a throwing GetService never
    /// fail the request.</summary>
    [Fact]
    public async Task ThrowingCallerThings_RequestSucceedsUntagged()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdResolver = () => throw new InvalidOperationException("resolver") });
        Assert.Equal("ok", (await client.GetResponseAsync("hi")).Text);
        Assert.Empty(inner.LastChat.Metadata);

        var options = new ChatOptions { AdditionalProperties = new() { ["metadata"] = new ThrowingPairs() } };
        using (DifySession.Begin("app"))
        {
            Assert.Equal("ok", (await client.GetResponseAsync("hi", options)).Text);
        }
    }

    private sealed class ThrowingPairs : IEnumerable<KeyValuePair<string, string>>
    {
        public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => throw new NotSupportedException("caller's");

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    // ---- added: outcome, channels, warnings, reload with code configure ----

    /// <summary>docs/behaviour.md: "The caller set store: true → merged, true, attached". Under LeaveUnset on Chat Completions
    /// a caller whose raw options set store=true gets the tags on the wire, but the call is recorded as store_disabled
    /// (and logged "not tagged"; no AdditionalProperties tags either).</summary>
    [Fact]
    public async Task LeaveUnset_CallersRawStoreTrue_RecordedAsAttached()
    {
        using MetricCollector<long> requests = Requests();
        var inner = Answering();
        IChatClient client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { StorePolicy = DifyStorePolicy.LeaveUnset }, meterFactory: MeterFactory);
        ChatCompletionOptions? raw = null;
        var options = new ChatOptions { RawRepresentationFactory = _ => raw = new ChatCompletionOptions { StoredOutputEnabled = true } };

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", options);
        }

        Assert.Equal("app", raw!.Metadata["dify_app_id"]); // the wire is tagged
        Assert.Equal("attached", Assert.Single(requests.GetMeasurementSnapshot()).Tags[DifyMetadataTelemetry.OutcomeTag]); // observed: store_disabled
    }

    /// <summary>README: gateway presets configured while no AddDifyMetadataHeaders() reached the request "log one Warning".
    /// The flag is per layer instance, so a scoped pipeline warns in every scope (the same shape as defect 7).</summary>
    [Fact]
    public async Task GatewayHeadersNotSent_OneWarning_AcrossScopedPipelines()
    {
        var logs = new FakeLogCollector();
        var services = new ServiceCollection().AddMetrics().AddLogging(b => b.AddProvider(new FakeLoggerProvider(logs)));
        services.AddChatClient(_ => new OpenAIStandInClient(StandInApi.ChatCompletions), ServiceLifetime.Scoped).UseDifyMetadata(o => o.GatewayHeaders.Add("Helicone"));
        using ServiceProvider provider = services.BuildServiceProvider();

        for (int i = 0; i < 3; i++)
        {
            using IServiceScope scope = provider.CreateScope();
            using (DifySession.Begin("app"))
            {
                await scope.ServiceProvider.GetRequiredService<IChatClient>().GetResponseAsync("hi");
            }
        }

        Assert.Single(logs.GetSnapshot(), r => r.Level == LogLevel.Warning); // observed: 3
    }

    /// <summary>App id order: WithDifyAppId, session, resolver, baggage (only with AppIdFromBaggage).</summary>
    [Fact]
    public async Task AppIdOrder_Holds()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var off = new DifyMetadataChatClient(inner);
        var on = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdFromBaggage = true });
        var withResolver = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdResolver = () => "from-resolver", AppIdFromBaggage = true });
        string? Sent() => inner.LastChat.Metadata.TryGetValue("dify_app_id", out string? v) ? v : null;
        using var activity = new System.Diagnostics.Activity("t").AddBaggage("dify.app_id", "from-baggage").Start();

        await off.GetResponseAsync("hi");
        Assert.Null(Sent());
        await on.GetResponseAsync("hi");
        Assert.Equal("from-baggage", Sent());
        await withResolver.GetResponseAsync("hi");
        Assert.Equal("from-resolver", Sent());
        using (DifySession.Begin("from-session"))
        {
            await withResolver.GetResponseAsync("hi");
            Assert.Equal("from-session", Sent());
            await withResolver.GetResponseAsync("hi", new ChatOptions().WithDifyAppId("from-call"));
            Assert.Equal("from-call", Sent());
            Assert.False(inner.LastOptions!.AdditionalProperties!.ContainsKey(DifyMetadataKeys.AppIdProperty));
        }
    }

    /// <summary>Gateway headers: current only inside the call, each parallel flow sees its own, nothing after the call.</summary>
    [Fact]
    public async Task GatewayHeaders_PerCall_NoLeak_Parallel()
    {
        int wrong = 0;
        var inner = new TestChatClient
        {
            GetServiceCallback = (type, key) => new OpenAIStandInClient(StandInApi.ChatCompletions).GetService(type, key),
            GetResponseAsyncCallback = async (messages, _, ct) =>
            {
                await Task.Yield();
                string expected = "dify_app_id:" + messages.Last().Text + ",dify_source:dify";
                if (CurrentGatewayHeaders.Values?.Single().Value != expected)
                {
                    Interlocked.Increment(ref wrong);
                }

                return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"));
            },
            GetStreamingResponseAsyncCallback = (messages, _, ct) => Check(messages.Last().Text),
        };
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { GatewayHeaders = { "LiteLLM" } });

        await Parallel.ForEachAsync(Enumerable.Range(0, 2000), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            string app = "app-" + (i % 40);
            using (DifySession.Begin(app))
            {
                if (i % 2 == 0)
                {
                    await client.GetResponseAsync(app, cancellationToken: ct);
                }
                else
                {
                    await foreach (ChatResponseUpdate u in client.GetStreamingResponseAsync(app, cancellationToken: ct))
                    {
                        if (GatewayScope.Current is not null)
                        {
                            Interlocked.Increment(ref wrong); // the consumer's code never sees them
                        }
                    }
                }

                if (GatewayScope.Current is not null)
                {
                    Interlocked.Increment(ref wrong); // nor the caller's flow after the call
                }
            }
        });

        Assert.Equal(0, wrong);

        async IAsyncEnumerable<ChatResponseUpdate> Check(string app)
        {
            for (int k = 0; k < 3; k++)
            {
                await Task.Yield();
                if (CurrentGatewayHeaders.Values?.Single().Value != "dify_app_id:" + app + ",dify_source:dify")
                {
                    Interlocked.Increment(ref wrong);
                }

                yield return new ChatResponseUpdate(ChatRole.Assistant, "x");
            }
        }
    }
}
