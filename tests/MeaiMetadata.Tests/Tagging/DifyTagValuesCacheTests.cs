using System.Runtime.CompilerServices;
using MeaiMetadata.Tagging;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace MeaiMetadata.Tests.Tagging;

[Collection(SerialTests.Name)]
public sealed class DifyTagValuesCacheTests : IDisposable
{
    public DifyTagValuesCacheTests() => DifyTagValuesCache.Clear(); // other tests leave it full of their random ids

    public void Dispose() => DifyTagValuesCache.Clear(); // and back on the system clock

    private static DifyTagValues SessionValues(string appId)
    {
        using (DifySession.Begin(appId))
        {
            return DifySession.Current!.GetValues("dify")!;
        }
    }

    [Fact]
    public void Get_SameIdAndSource_SameValues()
    {
        string id = "cache-" + Guid.NewGuid();

        DifyTagValues first = DifyTagValuesCache.Get(id, "dify");

        Assert.Same(first, DifyTagValuesCache.Get(id, "dify"));
        Assert.Equal(id, first.AppId);
        Assert.Equal("dify", first.Source);
    }

    [Fact]
    public void Get_OtherSource_OtherValues_BothKept()
    {
        string id = "cache-" + Guid.NewGuid();

        DifyTagValues dify = DifyTagValuesCache.Get(id, "dify");
        DifyTagValues other = DifyTagValuesCache.Get(id, "other");
        DifyTagValues none = DifyTagValuesCache.Get(id, source: null);

        Assert.Equal(("dify", "other", (string?)null), (dify.Source, other.Source, none.Source));
        Assert.Same(dify, DifyTagValuesCache.Get(id, "dify")); // two pipelines with different markers do not evict each other
        Assert.Same(other, DifyTagValuesCache.Get(id, "other"));
        Assert.Equal(3, DifyTagValuesCache.Count);
    }

    [Fact]
    public void Get_IdLongerThanAnOpenAIValue_NeverKept()
    {
        string longest = new('k', DifyTagValuesCache.MaxCachedIdLength);
        string tooLong = longest + "k";

        Assert.Same(DifyTagValuesCache.Get(longest, "dify"), DifyTagValuesCache.Get(longest, "dify"));
        Assert.NotSame(DifyTagValuesCache.Get(tooLong, "dify"), DifyTagValuesCache.Get(tooLong, "dify"));
        Assert.Equal(DifyTagValuesCache.MaxCachedIdLength, DifyTagValuesCache.Get(tooLong, "dify").AppId.Length);
        Assert.Equal(1, DifyTagValuesCache.Count);
    }

    [Fact]
    public void Get_WhenFull_KeepsWhatItHas_AndNewIdsGoUncached()
    {
        DifyTagValues first = DifyTagValuesCache.Get("full-0", "dify");
        for (int i = 1; i < DifyTagValuesCache.Capacity; i++)
        {
            DifyTagValuesCache.Get("full-" + i, "dify");
        }

        DifyTagValues extra = DifyTagValuesCache.Get("one-too-many", "dify");

        Assert.Equal(DifyTagValuesCache.Capacity, DifyTagValuesCache.Count);
        Assert.Same(first, DifyTagValuesCache.Get("full-0", "dify"));
        Assert.NotSame(extra, DifyTagValuesCache.Get("one-too-many", "dify"));
        Assert.Equal("one-too-many", extra.AppId);
    }

    [Fact]
    public void Get_WhenFull_EmptiesOnAMissOnlyOnceTheRefreshIntervalHasPassed()
    {
        var time = new FakeTimeProvider();
        DifyTagValuesCache.Clear(time);
        int next = 0;
        void Flood(int ids)
        {
            for (int end = next + ids; next < end; next++)
            {
                DifyTagValuesCache.Get("flood-" + next, "dify");
            }
        }

        Flood(DifyTagValuesCache.Capacity + 50_000);
        Assert.Equal(DifyTagValuesCache.Capacity, DifyTagValuesCache.Count); // full: new ids go uncached, nothing evicted

        time.Advance(DifyTagValuesCache.RefreshInterval - TimeSpan.FromSeconds(1));
        Flood(1_000);
        Assert.Equal(DifyTagValuesCache.Capacity, DifyTagValuesCache.Count); // not yet

        time.Advance(TimeSpan.FromSeconds(1));
        Flood(64);
        Assert.InRange(DifyTagValuesCache.Count, 0, 63); // one of these 64 misses (the clock is read on one in 64) emptied it

        Flood(DifyTagValuesCache.Capacity + 10);
        Assert.Equal(DifyTagValuesCache.Capacity, DifyTagValuesCache.Count); // filled again by the apps seen now

        Flood(1_000);
        Assert.Equal(DifyTagValuesCache.Capacity, DifyTagValuesCache.Count); // and the clock restarted with the emptying
    }

    [Fact]
    public async Task Get_ManyThreadsAtOnce_OneValuePerKey_NeverOverCapacity()
    {
        const int Threads = 8;
        var seen = new DifyTagValues[Threads][];
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            seen[t] = [.. Enumerable.Range(0, 2 * DifyTagValuesCache.Capacity).Select(i => DifyTagValuesCache.Get("shared-" + (i % 700), "dify"))];
        })));

        Assert.Equal(700, DifyTagValuesCache.Count);
        for (int i = 0; i < 700; i++)
        {
            // Racing first sightings may each build a value; every later one is the kept one.
            DifyTagValues kept = DifyTagValuesCache.Get("shared-" + i, "dify");
            Assert.All(seen, s => Assert.Same(kept, s[i + 700]));
        }
    }

    [Fact]
    public void Sessions_OfTheSameApp_ShareValues()
    {
        string a = "tenant-a-" + Guid.NewGuid();
        string b = "tenant-b-" + Guid.NewGuid();

        DifyTagValues first = SessionValues(a);
        DifyTagValues second = SessionValues(a);
        DifyTagValues other = SessionValues(b);

        Assert.Same(first, second); // the normalized id and pairs are built once
        Assert.NotSame(first, other);
        Assert.True(first.IsShared);
        Assert.Equal(a, first.AppId);
        Assert.Equal(b, other.AppId);
    }

    [Fact]
    public async Task OneLayer_SessionsOfTheSameApp_ShareItsFactory_OtherApps_DoNot()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        using var layer = new DifyMetadataChatClient(inner);
        async Task<Func<IChatClient, object?>> FactoryOfANewSession(string appId)
        {
            using (DifySession.Begin(appId))
            {
                await layer.GetResponseAsync("hi");
                Assert.Equal(appId, inner.LastChat.Metadata["dify_app_id"]);
                return inner.LastOptions!.RawRepresentationFactory!;
            }
        }

        Func<IChatClient, object?> a1 = await FactoryOfANewSession("app-a");
        Func<IChatClient, object?> b1 = await FactoryOfANewSession("app-b");
        Func<IChatClient, object?> a2 = await FactoryOfANewSession("app-a");

        Assert.Same(a1, a2); // one request per session, apps alternating: still no new factory for app-a
        Assert.NotSame(a1, b1);
    }

    [Fact]
    public async Task UncachedIds_AreTaggedCorrectly_AndNotCached()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        using var layer = new DifyMetadataChatClient(inner);
        string tooLong = new('x', DifyTagValuesCache.MaxCachedIdLength + 1);

        using (DifySession.Begin(tooLong))
        {
            await layer.GetResponseAsync("hi");
            Func<IChatClient, object?> first = inner.LastOptions!.RawRepresentationFactory!;
            await layer.GetResponseAsync("again");
            Assert.Same(first, inner.LastOptions!.RawRepresentationFactory); // the same session reuses it
        }

        Assert.Equal(tooLong[..DifyTagValuesCache.MaxCachedIdLength], inner.LastChat.Metadata["dify_app_id"]);
        Assert.Null(DifySession.Current);
        Assert.Equal(0, DifyTagValuesCache.Count);
    }

    [Fact]
    public async Task AnotherLayer_TaggingTheSameApp_DoesNotReplaceThisLayersFactory()
    {
        var innerA = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var innerB = new OpenAIStandInClient(StandInApi.ChatCompletions);
        using var layerA = new DifyMetadataChatClient(innerA);
        using var layerB = new DifyMetadataChatClient(innerB, new DifyMetadataOptions { AdditionalPropertiesEnabled = false });

        using (DifySession.Begin("same-app"))
        {
            await layerA.GetResponseAsync("first");
            Func<IChatClient, object?>? factory = innerA.LastOptions!.RawRepresentationFactory;

            using (DifySession.Begin("same-app")) // e.g. another request of the same app, through another layer
            {
                await layerB.GetResponseAsync("meanwhile");
            }

            await layerA.GetResponseAsync("second");
            Assert.Same(factory, innerA.LastOptions!.RawRepresentationFactory);
        }
    }

    [Fact]
    public void TheCache_DoesNotKeepAClientLayerAlive()
    {
        // The cache holds values only: once a session and its client layer are gone, their logger can be collected.
        WeakReference logger = TagOnceThroughAThrowawayLayer("kept-app");

        // The layer's table (a ConditionalWeakTable) frees its entries from a finalizer, which may take a few rounds.
        for (int round = 0; round < 10 && logger.IsAlive; round++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.False(logger.IsAlive, "something process-wide keeps the client layer's logger alive");
        Assert.Equal("kept-app", DifyTagValuesCache.Get("kept-app", "dify").AppId);
        Assert.Equal(1, DifyTagValuesCache.Count); // the values stayed cached
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference TagOnceThroughAThrowawayLayer(string appId)
    {
        ILogger logger = new DisposableLogger();
        var inner = new RawFactoryCallingClient();
        using var layer = new DifyMetadataChatClient(inner, new DifyMetadataOptions(), logger);
        using (DifySession.Begin(appId))
        {
            _ = layer.GetResponseAsync("hi").Result;
        }

        Assert.True(inner.SawRawOptions);
        return new WeakReference(logger);
    }

    /// <summary>A logger instance of its own, to watch for; logs nothing.</summary>
    private sealed class DisposableLogger : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => false;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
        }
    }

    /// <summary>Calls the factory like an OpenAI client and keeps nothing of the request.</summary>
    private sealed class RawFactoryCallingClient : IChatClient
    {
        public bool SawRawOptions { get; private set; }

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            SawRawOptions |= options?.RawRepresentationFactory?.Invoke(this) is not null;
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(OpenAI.Chat.ChatClient) ? s_sdkClient : null;

        private static readonly OpenAI.Chat.ChatClient s_sdkClient = new("m", "k");

        public void Dispose()
        {
        }
    }
}
