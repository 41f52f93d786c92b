using System.ClientModel;
using System.ClientModel.Primitives;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Text;
using MeaiMetadata.Budgets.Tests.TestDoubles;
using MeaiMetadata.FakeOpenAI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Responses;
using Xunit.Abstractions;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AIChatRole = Microsoft.Extensions.AI.ChatRole;

#pragma warning disable OPENAI001 // ResponsesClient and its options are experimental.
#pragma warning disable CA1826

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Third reviewer's attacks on the fixes of the second review (caller factory measured once more, messages copied at
/// estimation, streams reserved at enumeration, layers on both sides of UseFunctionInvocation, pending settlements, PDFs).
/// Each test asserts the promise, so it FAILS where a hole is left.</summary>
/// <remarks>Failing when written (holes): A1, A2, A3, A3b, A4, A5, B1, B2, B4, C, D, E1b, E2, F(layerOutside: true).
/// Passing (attempts that held): B3 (no budget: factory once, no output bound added), E1 (a zero-filled Flate bomb),
/// F(layerOutside: false).</remarks>
public sealed class SecondAttackTests(ITestOutputHelper output)
{
    /// <summary>The most a PDF estimate inflates: the cap, plus one read of the 16 KiB buffer past it.</summary>
    private const long InflatedAtMost = DifyBudgetEstimate.MaxInflatedPdfBytes + (16 * 1024);

    private const decimal Nano = 1_000_000_000m;
    private const string Model = "gpt-4o-mini";

    private static string Key(string app, DifyBudgetPeriod period = DifyBudgetPeriod.Month) =>
        DifyBudgetCall.KeyOf(app, period, DifyBudgetCall.Bounds(TimeProvider.System.GetUtcNow(), period).Start);

    private static (ServiceProvider Services, InMemoryDifyBudgetStore Store) Services(Action<DifyMetadataOptions> configure, Action<IServiceCollection>? more = null)
    {
        var services = new ServiceCollection();
        more?.Invoke(services);
        ServiceProvider sp = services.AddDifyMetadata(configure).BuildServiceProvider();
        return (sp, sp.GetRequiredService<IDifyBudgetStore>() as InMemoryDifyBudgetStore ?? InMemoryDifyBudgetStore.Shared);
    }

    private static OpenAIClient OpenAI(FakeOpenAIServer server) =>
        new(new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });

    private static decimal Cost(long input, long output, string model = Model) => Spend.DifyPriceTable.BuiltIn.GetCost(model, input, 0, output)!.Value;

    private static long NanoCost(long input, long output) => DifyBudgetCall.ToNano(Cost(input, output));

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private static int BilledInput(RecordedRequest r) => Math.Max(1, r.Body.Length / 4);

    private static readonly AIFunction Tick = AIFunctionFactory.Create(() => "tock", "tick");

    // =====================================================================================================================
    // A. Layers on both sides of UseFunctionInvocation(): "the inner one keeps the budget of each request and the outer
    //    one's reservation is released". The inner layer knows it is covered only while the outer layer is synchronously
    //    inside its inner call (DifyRequestDecision.InCall). Whenever the tool loop's first model request is made after an
    //    await, the inner layer decides it as a call of its own, BudgetKeptInside is never set, and the outer layer settles
    //    its reservation to the usage of the whole loop: every request is charged twice.
    // =====================================================================================================================

    // A1. Streaming: FunctionInvokingChatClient's stream is an async iterator, so it runs after the outer layer's InnerCall
    //     ended. Every streamed tool loop is charged twice.
    [Fact]
    public async Task Stacked_Streaming_OuterAndInnerOfFunctionInvocation_EachRequestChargedOnce()
    {
        string app = Unique("stacked-stream");
        var inner = new ToolLoopClient(toolCalls: 3);
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().UseFunctionInvocation().UseDifyMetadata().Build(sp);

        await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("go", new ChatOptions { ModelId = Model, MaxOutputTokens = 100, Tools = [Tick] }.WithDifyAppId(app)))
        {
        }

        long spent = store.SpentOf(Key(app));
        long actual = inner.Calls * NanoCost(ToolLoopClient.Input, ToolLoopClient.Output);
        output.WriteLine($"model requests {inner.Calls}; spent {spent} nano; their cost {actual} nano");
        Assert.Equal(4, inner.Calls);
        Assert.Equal(actual, spent);
    }

    // A2. Not streaming, with an ordinary asynchronous middleware between the outer layer and UseFunctionInvocation() (a
    //     rate limiter, as in Microsoft.Extensions.AI's own Use(...) example; UseDistributedCache reads its cache first).
    [Fact]
    public async Task Stacked_AsyncMiddlewareBetween_OuterAndInnerOfFunctionInvocation_EachRequestChargedOnce()
    {
        string app = Unique("stacked-async");
        var inner = new ToolLoopClient(toolCalls: 3);
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(inner) // outermost first
            .UseDifyMetadata()
            .Use(next => new RateLimitedClient(next)) // awaits a permit, then calls on
            .UseFunctionInvocation()
            .UseDifyMetadata()
            .Build(sp);
        await client.GetResponseAsync("go", new ChatOptions { ModelId = Model, MaxOutputTokens = 100, Tools = [Tick] }.WithDifyAppId(app));

        long spent = store.SpentOf(Key(app));
        long actual = inner.Calls * NanoCost(ToolLoopClient.Input, ToolLoopClient.Output);
        output.WriteLine($"model requests {inner.Calls}; spent {spent} nano; their cost {actual} nano");
        Assert.Equal(4, inner.Calls);
        Assert.Equal(actual, spent);
    }

    // A3. Three layers (e.g. one a library adds, one the app adds, one outside the tool loop): each layer that finds itself
    //     covered keeps the budget of the request, so a request under two covered layers is charged twice.
    [Fact]
    public async Task ThreeStackedLayers_EachRequestChargedOnce()
    {
        string app = Unique("three");
        var inner = new ToolLoopClient(toolCalls: 2);
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().UseFunctionInvocation().UseDifyMetadata().UseDifyMetadata().Build(sp);

        await client.GetResponseAsync("go", new ChatOptions { ModelId = Model, MaxOutputTokens = 100, Tools = [Tick] }.WithDifyAppId(app));

        long spent = store.SpentOf(Key(app));
        long actual = inner.Calls * NanoCost(ToolLoopClient.Input, ToolLoopClient.Output);
        output.WriteLine($"model requests {inner.Calls}; spent {spent} nano; their cost {actual} nano");
        Assert.Equal(actual, spent);
    }

    // A3b. The same without a tool loop: two layers stacked directly (no UseFunctionInvocation) under a third.
    [Fact]
    public async Task ThreeStackedLayers_NoToolLoop_RequestChargedOnce()
    {
        string app = Unique("three-direct");
        var inner = new CountingChatClient();
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().UseDifyMetadata().UseDifyMetadata().Build(sp);

        await client.GetResponseAsync("hello", new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"model requests {inner.Calls}; spent {spent} nano; its cost {NanoCost(5, 3)} nano");
        Assert.Equal(1, inner.Calls);
        Assert.Equal(NanoCost(5, 3), spent);
    }

    // =====================================================================================================================
    // B. The caller's RawRepresentationFactory is called once to measure and again to send: what it returns the second time
    //    is sent, not what was measured.
    // =====================================================================================================================

    // B1. A factory that returns something else on its second call (it reads state that changes, or builds its tools
    //     lazily): the tools it adds then are sent, unreserved.
    [Fact]
    public async Task CallerFactory_ReturnsMoreOnTheSecondCall_SentButNotReserved()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { ToolCalls = false, UsageOf = r => new FakeUsage(BilledInput(r), 10) });
        string app = Unique("factory-twice");
        decimal limit = 0.0001m;
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);

        int calls = 0;
        var options = new ChatOptions
        {
            MaxOutputTokens = 10,
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions();
                if (Interlocked.Increment(ref calls) > 1)
                {
                    raw.Tools.Add(ChatTool.CreateFunctionTool("lookup", new string('d', 400_000)));
                }

                return raw;
            },
        }.WithDifyAppId(app);
        await Record.ExceptionAsync(() => client.GetResponseAsync("hi", options));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"factory calls {calls}; body {server.Requests.FirstOrDefault()?.Body.Length} chars; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD: the factory's second answer was sent, its first was reserved");
    }

    // B2. ... and the same with n answers patched in on the second call (n is not capped, only the output bound is).
    [Fact]
    public async Task CallerFactory_PatchesNOnTheSecondCall_NotReserved()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions
        {
            UsageOf = r => new FakeUsage(16, r.Body.Contains("\"n\":8", StringComparison.Ordinal) ? 8 * 1000 : 1000),
        });
        string app = Unique("factory-n");
        decimal limit = 2 * Cost(16, 1000);
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);

        int calls = 0;
        var options = new ChatOptions
        {
            MaxOutputTokens = 1000,
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions();
#pragma warning disable SCME0001
                if (Interlocked.Increment(ref calls) > 1)
                {
                    raw.Patch.Set("$.n"u8, 8);
                }
#pragma warning restore SCME0001
                return raw;
            },
        }.WithDifyAppId(app);
        await Record.ExceptionAsync(() => client.GetResponseAsync("hi", options));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"factory calls {calls}; body {server.Requests.FirstOrDefault()?.Body}; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD");
    }

    // B3. An app without a budget (another app has one): its factory is called once, as without the layer.
    [Fact]
    public async Task CallerFactory_AppWithoutBudget_CalledOnce()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions());
        var (sp, _) = Services(o => o.Budgets.Apps["someone-else"] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseFunctionInvocation().UseDifyMetadata().Build(sp);
        int calls = 0;
        var options = new ChatOptions { RawRepresentationFactory = _ => { Interlocked.Increment(ref calls); return new ChatCompletionOptions(); } }.WithDifyAppId(Unique("free"));
        await client.GetResponseAsync("hi", options);
        await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hi", options))
        {
        }

        Assert.Equal(2, calls);
        Assert.DoesNotContain("max_completion_tokens", server.Requests[0].Body, StringComparison.Ordinal); // no output bound added
    }

    // B4. A factory that throws: without the layer, GetResponseAsync returns a faulted task; with a budget the exception
    //     escapes GetResponseAsync itself (before any task), which breaks callers that start the call and await it later.
    [Fact]
    public void CallerFactory_Throws_SurfacesThroughTheTask_AsWithoutTheLayer()
    {
        string app = Unique("factory-throws");
        var (sp, _) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(new CountingChatClient()).UseDifyMetadata().Build(sp);
        var options = new ChatOptions { ModelId = Model, MaxOutputTokens = 10, RawRepresentationFactory = _ => throw new InvalidOperationException("factory") }.WithDifyAppId(app);
        Exception? sync = Record.Exception(() => { _ = client.GetResponseAsync("hi", options); });
        Assert.Null(sync);
    }

    // =====================================================================================================================
    // C. "The request sends a copy of its messages taken when it is estimated": a shallow copy. The caller's ChatMessage
    //    objects are still shared: a message changed while the store answers is sent as changed.
    // =====================================================================================================================
    [Fact]
    public async Task MessageChangedDuringTheReservationRoundTrip_SentButNotReserved()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { UsageOf = r => new FakeUsage(BilledInput(r), 10) });
        string app = Unique("mutate-msg");
        decimal limit = 0.0001m;
        var slow = new SlowStore(TimeSpan.FromMilliseconds(300));
        var (sp, _) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit }, s => s.AddSingleton<IDifyBudgetStore>(slow));
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);

        var turn = new AIChatMessage(AIChatRole.User, "hi");
        Task<ChatResponse> call = client.GetResponseAsync([turn], new ChatOptions { MaxOutputTokens = 10 }.WithDifyAppId(app));
        turn.Contents.Add(new TextContent(new string('x', 400_000))); // the turn still being built (e.g. attachments added)
        await Record.ExceptionAsync(() => call);

        long spent = slow.Inner.SpentOf(Key(app));
        output.WriteLine($"body {server.Requests.FirstOrDefault()?.Body.Length} chars; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD: a message changed during the reservation was sent but not reserved");
    }

    // =====================================================================================================================
    // D. Raw Responses options carry input items of their own: measured by their JSON bytes, but an image by URL is billed
    //    as an image (up to 48,169 tokens at gpt-4o-mini), not by the length of its URL. Only images "added to a raw
    //    representation through its JSON patch" are documented as counted by their bytes.
    // =====================================================================================================================
    [Fact]
    public async Task RawResponsesOptions_InputItemsWithImageUrls_ReservedByTheirBytes()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions
        {
            ToolCalls = false,
            UsageOf = r => new FakeUsage(BilledInput(r) + (48_169 * CountOf(r.Body, "input_image")), 16),
        });
        string app = Unique("raw-items");
        decimal limit = 0.02m; // 133,333 input tokens; each image is billed up to 48,169
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetResponsesClient().AsIChatClient(Model)).UseDifyMetadata().Build(sp);

        var options = new ChatOptions
        {
            MaxOutputTokens = 16,
            RawRepresentationFactory = _ =>
            {
                var raw = new CreateResponseOptions();
                for (int i = 0; i < 10; i++)
                {
                    raw.InputItems.Add(ResponseItem.CreateUserMessageItem([ResponseContentPart.CreateInputImagePart(new Uri($"https://example.com/{i}.png"), ResponseImageDetailLevel.High)]));
                }

                return raw;
            },
        }.WithDifyAppId(app);
        Exception? error = await Record.ExceptionAsync(() => client.GetResponseAsync("what is on these?", options));

        string body = server.Requests.FirstOrDefault()?.Body ?? "";
        long spent = store.SpentOf(Key(app));
        output.WriteLine($"error {error?.GetType().Name}: {error?.Message}; images sent {CountOf(body, "input_image")}; status {server.Requests.FirstOrDefault()?.StatusCode}; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD: images of the raw options' input items were reserved by the bytes of their URLs");
    }

    // =====================================================================================================================
    // E. PDFs: the estimate inflates every Flate stream (up to 64 MiB in all) and tries every "stream" keyword, synchronously,
    //    on the caller's thread, once per request (and again on every turn and tool-loop round that carries the PDF).
    // =====================================================================================================================

    // E1. A 64 KiB zip bomb costs the estimate inflating and scanning 64 MiB.
    [Fact]
    public void PdfEstimate_FlateBomb_IsCheap()
    {
        byte[] pdf = PdfWith(Deflate(new byte[64 << 20]), streams: 1);
        long tokens = DifyBudgetEstimate.PdfTokens(pdf);
        output.WriteLine($"pdf {pdf.Length} bytes; estimate {tokens} tokens");

        // The work, counted instead of timed: the estimate adds what it inflated, which stops at the cap (plus one read).
        Assert.InRange(tokens - pdf.Length, 1, InflatedAtMost);
    }

    // E1b. A bomb that inflates to 64 MiB of "/Page" names: counted one by one.
    [Fact]
    public void PdfEstimate_FlateBombOfPageNames_IsCheap()
    {
        byte[] names = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("/Page ", (64 << 20) / 6)));
        byte[] pdf = PdfWith(Deflate(names), streams: 1);
        long tokens = DifyBudgetEstimate.PdfTokens(pdf);
        output.WriteLine($"pdf {pdf.Length} bytes; estimate {tokens} tokens");

        // Counted instead of timed: the pages found are those of the inflated bytes, which stop at the cap (plus one read).
        long pagesAtMost = (InflatedAtMost / "/Page ".Length) + 1;
        Assert.InRange(tokens - pdf.Length, 1, (pagesAtMost * DifyBudgetEstimate.PerNonText) + InflatedAtMost);
    }

    // E2. Many tiny streams: each is handed to a new ZLibStream (a native inflater), and the 64 MiB bound never trips
    //     because none inflates.
    [Fact]
    public void PdfEstimate_ManyTinyStreams_IsCheap()
    {
        var sb = new StringBuilder("%PDF-1.4\n");
        while (sb.Length < 4 << 20)
        {
            sb.Append("stream\nx\nendstream\n");
        }

        byte[] pdf = Encoding.ASCII.GetBytes(sb.ToString());
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        long tokens = DifyBudgetEstimate.PdfTokens(pdf);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        output.WriteLine($"pdf {pdf.Length} bytes; estimate {tokens} tokens, {allocated} bytes allocated");

        // Counted instead of timed: each stream tried costs an inflater; 4,096 of them allocate a few MiB, all 220,000 would
        // allocate hundreds.
        Assert.InRange(allocated, 1, 32L << 20);
    }

    // =====================================================================================================================
    // F. "A ContinuationToken is a poll (no model request, no reservation) only on the Responses API." A polled background
    //    response that ends in a tool call makes UseFunctionInvocation() send model requests of its own, under the poll's
    //    options: with the layer outside the loop nothing reserves or settles them (not even "settled to what it used").
    // =====================================================================================================================
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ResponsesPoll_ToolLoopAfterIt_ModelRequestsAreBudgeted(bool layerOutside)
    {
        string app = Unique("poll-loop");
        var inner = new BackgroundResponsesClient();
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 0m }); // 0: refuses every model request
        ChatClientBuilder builder = new(inner);
        builder = layerOutside ? builder.UseDifyMetadata().UseFunctionInvocation() : builder.UseFunctionInvocation().UseDifyMetadata();
        IChatClient client = builder.Build(sp);

        var options = new ChatOptions { ModelId = Model, MaxOutputTokens = 100, Tools = [Tick], ContinuationToken = ResponseContinuationToken.FromBytes(new byte[] { 1, 2, 3 }) }.WithDifyAppId(app);
        Exception? error = await Record.ExceptionAsync(() => client.GetResponseAsync([], options));

        output.WriteLine($"error {error?.GetType().Name}; polls {inner.Polls}; model requests {inner.ModelRequests}; spent {store.SpentOf(Key(app))} nano of a 0 USD budget");
        Assert.Equal(0, inner.ModelRequests);
    }

    // =====================================================================================================================
    // Helpers
    // =====================================================================================================================

    private static int CountOf(string text, string word)
    {
        int n = 0;
        for (int at = text.IndexOf(word, StringComparison.Ordinal); at >= 0; at = text.IndexOf(word, at + 1, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }

    private static byte[] Deflate(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            z.Write(data);
        }

        return ms.ToArray();
    }

    private static byte[] PdfWith(byte[] stream, int streams)
    {
        using var ms = new MemoryStream();
        ms.Write("%PDF-1.4\n"u8);
        for (int i = 0; i < streams; i++)
        {
            ms.Write(Encoding.ASCII.GetBytes($"{i + 1} 0 obj<</Filter/FlateDecode/Length {stream.Length}>>stream\n"));
            ms.Write(stream);
            ms.Write("\nendstream endobj\n"u8);
        }

        ms.Write("%%EOF\n"u8);
        return ms.ToArray();
    }

    /// <summary>A Responses API stand-in (it names a ResponsesClient): a poll (a continuation token) returns the finished
    /// background response, a call to the tool; a request without a token is a model request.</summary>
    private sealed class BackgroundResponsesClient : IChatClient
    {
        private static readonly ResponsesClient s_client = new OpenAIClient(new ApiKeyCredential("k")).GetResponsesClient();
        private int _polls, _requests;

        public int Polls => Volatile.Read(ref _polls);

        public int ModelRequests => Volatile.Read(ref _requests);

        public Task<ChatResponse> GetResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (options?.ContinuationToken is not null)
            {
                Interlocked.Increment(ref _polls);
                return Task.FromResult(new ChatResponse(new AIChatMessage(AIChatRole.Assistant, [new FunctionCallContent("c1", "tick")])) { ModelId = Model });
            }

            Interlocked.Increment(ref _requests);
            return Task.FromResult(new ChatResponse(new AIChatMessage(AIChatRole.Assistant, "done"))
            {
                ModelId = Model,
                Usage = new() { InputTokenCount = 10, OutputTokenCount = 100 },
            });
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceKey is null && serviceType == typeof(ResponsesClient) ? s_client : null;

        public void Dispose()
        {
        }
    }

    /// <summary>Waits for a permit (asynchronously) before each request, as a rate limiter does.</summary>
    private sealed class RateLimitedClient(IChatClient inner) : DelegatingChatClient(inner)
    {
        public override async Task<ChatResponse> GetResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            await Task.Yield(); // e.g. await limiter.AcquireAsync(1, cancellationToken)
            return await base.GetResponseAsync(messages, options, cancellationToken);
        }
    }

    /// <summary>A model that calls the tool "tick" <c>toolCalls</c> times, then answers; each answer has usage.</summary>
    private sealed class ToolLoopClient(int toolCalls) : IChatClient
    {
        public const int Input = 10;
        public const int Output = 100;
        private int _calls;
        private int _total;

        public int Calls => Volatile.Read(ref _calls);

        public int Total => Volatile.Read(ref _total) + Calls;

        public void Reset() => _total += Interlocked.Exchange(ref _calls, 0);

        private static UsageDetails Usage() => new() { InputTokenCount = Input, OutputTokenCount = Output, TotalTokenCount = Input + Output };

        public Task<ChatResponse> GetResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            int n = Interlocked.Increment(ref _calls);
            AIChatMessage answer = n <= toolCalls ? new(AIChatRole.Assistant, [new FunctionCallContent("c" + n, "tick")]) : new(AIChatRole.Assistant, "done");
            return Task.FromResult(new ChatResponse(answer) { Usage = Usage(), ModelId = Model });
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
            IEnumerable<AIChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            int n = Interlocked.Increment(ref _calls);
            await Task.Yield();
            yield return n <= toolCalls
                ? new ChatResponseUpdate(AIChatRole.Assistant, [new FunctionCallContent("c" + n, "tick")]) { ModelId = Model }
                : new ChatResponseUpdate(AIChatRole.Assistant, "done") { ModelId = Model };
            yield return new ChatResponseUpdate { Contents = [new UsageContent(Usage())] };
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    /// <summary>The in-memory store, slow to answer (a store across a network).</summary>
    private sealed class SlowStore(TimeSpan delay) : IDifyBudgetStore
    {
        public InMemoryDifyBudgetStore Inner { get; } = new();

        public async ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken)
        {
            await Task.Delay(delay, cancellationToken);
            return await Inner.ReserveAsync(key, amount, limit, cancellationToken);
        }

        public ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken) =>
            Inner.SettleAsync(key, delta, alertAt, cancellationToken);
    }
}
