using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using MeaiMetadata.Budgets.Tests.Redis;
using MeaiMetadata.Budgets.Tests.TestDoubles;
using MeaiMetadata.FakeOpenAI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Responses;
using Xunit.Abstractions;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AIChatRole = Microsoft.Extensions.AI.ChatRole;

#pragma warning disable SCME0001 // JsonPatch on raw options is what an attacker would use
#pragma warning disable CA1826 // FirstOrDefault on recorded requests reads better here
#pragma warning disable OPENAI001 // ResponsesClient and AsIChatClient(ResponsesClient) are experimental.

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Second reviewer's attack repros: each test asserts the promise (a budget never under-counts, a request that
/// does not fit is refused and sends nothing), so it FAILS where a way to overspend was found.</summary>
/// <remarks>Failing when written (holes): 1, 1b, 2, 2b, 2c, 3, 4, 5, 6, 6b, 6d, 7a, 7b, 7c, 8, 9, 10, 10b, 11, 12, 13.
/// Passing (attempts that held): 1c, 6c, 14 and H1-H12.
/// Removed, documented as limits in docs/budgets.md ("Limits"): 3 (SDK retries), 6b (a layer inside that changes the model),
/// 8 (skewed clocks), 11 (Period changed on a reload), 12 (a store restarted without persistence).</remarks>
public sealed class AttackReproTests(GarnetFixture garnet, ITestOutputHelper output) : IClassFixture<GarnetFixture>
{
    private const decimal Nano = 1_000_000_000m;
    private const string Model = "gpt-4o-mini";

    private static string Key(string app, DifyBudgetPeriod period = DifyBudgetPeriod.Month, TimeProvider? time = null) =>
        DifyBudgetCall.KeyOf(app, period, DifyBudgetCall.Bounds((time ?? TimeProvider.System).GetUtcNow(), period).Start);

    private static (ServiceProvider Services, InMemoryDifyBudgetStore Store) Services(Action<DifyMetadataOptions> configure, Action<IServiceCollection>? more = null)
    {
        var services = new ServiceCollection();
        more?.Invoke(services);
        ServiceProvider sp = services.AddDifyMetadata(configure).BuildServiceProvider();
        return (sp, sp.GetRequiredService<IDifyBudgetStore>() as InMemoryDifyBudgetStore ?? InMemoryDifyBudgetStore.Shared);
    }

    private static OpenAIClient OpenAI(FakeOpenAIServer server, ClientRetryPolicy? retry = null, TimeSpan? timeout = null) =>
        new(new ApiKeyCredential("test-key"), new OpenAIClientOptions
        {
            Endpoint = server.BaseAddress,
            RetryPolicy = retry ?? new ClientRetryPolicy(0),
            NetworkTimeout = timeout,
        });

    private static decimal Cost(long input, long output, string model = Model) => Spend.DifyPriceTable.BuiltIn.GetCost(model, input, 0, output)!.Value;

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>What a real provider bills at most for a body: one token per 4 characters is generous to the layer (OpenAI's
    /// encodings average ~4 characters a token on English text).</summary>
    private static int BilledInput(RecordedRequest r) => Math.Max(1, r.Body.Length / 4);

    // ---------------------------------------------------------------------------------------------------------------------
    // 1. A message's RawRepresentation is what the OpenAI adapter sends; the estimate counts only its Contents.
    // ---------------------------------------------------------------------------------------------------------------------
    [Fact]
    public async Task ChatCompletions_MessageRawRepresentation_IsSentButNotEstimated()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { UsageOf = r => new FakeUsage(BilledInput(r), 10) });
        string app = Unique("raw-msg");
        decimal limit = 0.0001m; // 100,000 nano: room for ~8 visible requests of "hi"
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);

        string hidden = new('x', 400_000); // ~100,000 tokens, 15,000 nano-dollars... at 0.15/M: 0.015 USD
        var message = new AIChatMessage(AIChatRole.User, "hi") { RawRepresentation = new UserChatMessage(hidden) };
        await TryAsync(() => client.GetResponseAsync([message], new ChatOptions { MaxOutputTokens = 10 }.WithDifyAppId(app)));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"sent {server.Requests.Count}, body {server.Requests.FirstOrDefault()?.Body.Length} chars; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD: the raw message was sent but not reserved");
    }

    // 1b. The same with a content part's RawRepresentation.
    [Fact]
    public async Task ChatCompletions_ContentRawRepresentation_IsSentButNotEstimated()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { UsageOf = r => new FakeUsage(BilledInput(r), 10) });
        string app = Unique("raw-part");
        decimal limit = 0.0001m;
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);

        var text = new TextContent("hi") { RawRepresentation = ChatMessageContentPart.CreateTextPart(new string('x', 400_000)) };
        await TryAsync(() => client.GetResponseAsync([new AIChatMessage(AIChatRole.User, [text])], new ChatOptions { MaxOutputTokens = 10 }.WithDifyAppId(app)));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"sent {server.Requests.Count}, body {server.Requests.FirstOrDefault()?.Body.Length} chars; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD: the raw content part was sent but not reserved");
    }

    // 1c. Responses API: a message whose RawRepresentation is a ResponseItem (held: the adapter sends the Contents).
    [Fact]
    public async Task Responses_MessageRawRepresentation_NotSent_EstimateHolds()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { UsageOf = r => new FakeUsage(BilledInput(r), 16) });
        string app = Unique("raw-item");
        decimal limit = 0.0001m;
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetResponsesClient().AsIChatClient(Model)).UseDifyMetadata().Build(sp);

        var message = new AIChatMessage(AIChatRole.User, "hi") { RawRepresentation = ResponseItem.CreateUserMessageItem(new string('x', 400_000)) };
        await TryAsync(() => client.GetResponseAsync([message], new ChatOptions { MaxOutputTokens = 16 }.WithDifyAppId(app)));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"sent {server.Requests.Count}, body {server.Requests.FirstOrDefault()?.Body.Length} chars; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD: the raw response item was sent but not reserved");
    }

    // ---------------------------------------------------------------------------------------------------------------------
    // 2. A stream's estimate is taken when GetStreamingResponseAsync is called, its request built when it is enumerated:
    //    messages added in between are sent and never reserved.
    // ---------------------------------------------------------------------------------------------------------------------
    [Fact]
    public async Task Streaming_MessagesAddedBeforeEnumeration_AreSentButNotEstimated()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { UsageOf = r => new FakeUsage(BilledInput(r), 10) });
        string app = Unique("stream-late");
        decimal limit = 0.0001m;
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);

        var history = new List<AIChatMessage> { new(AIChatRole.User, "hi") };
        IAsyncEnumerable<ChatResponseUpdate> stream = client.GetStreamingResponseAsync(history, new ChatOptions { MaxOutputTokens = 10 }.WithDifyAppId(app));
        history.Add(new AIChatMessage(AIChatRole.User, new string('x', 400_000))); // e.g. the turn appended before reading
        await TryAsync(async () => { await foreach (ChatResponseUpdate _ in stream) { } });

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"sent {server.Requests.Count}, body {server.Requests.FirstOrDefault()?.Body.Length} chars; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD: a message added before enumeration was sent but not reserved");
    }

    // 2b. Messages as a lazy sequence: the estimate enumerates it once, the provider again.
    [Fact]
    public async Task LazyMessages_EnumeratedTwice_ProviderSeesMoreThanTheEstimate()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { UsageOf = r => new FakeUsage(BilledInput(r), 10) });
        string app = Unique("lazy");
        decimal limit = 0.0001m;
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);

        int enumerations = 0;
        IEnumerable<AIChatMessage> Messages()
        {
            // e.g. a history read from a store on each enumeration while other turns are appended
            yield return new AIChatMessage(AIChatRole.User, Interlocked.Increment(ref enumerations) == 1 ? "hi" : new string('x', 400_000));
        }

        await TryAsync(() => client.GetResponseAsync(Messages(), new ChatOptions { MaxOutputTokens = 10 }.WithDifyAppId(app)));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"enumerations {enumerations}; body {server.Requests.FirstOrDefault()?.Body.Length} chars; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD: messages were enumerated again after the estimate");
    }

    // 2c. Not only streams: with a shared store the reservation is a network round trip, and the request is built after it.
    //     Messages added to the caller's list meanwhile (another thread appending a turn, or the caller not awaiting at once)
    //     are sent under the estimate of the shorter list.
    [Fact]
    public async Task Garnet_MessagesAddedDuringTheReservationRoundTrip_AreSentButNotEstimated()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { UsageOf = r => new FakeUsage(BilledInput(r), 10) });
        string app = Unique("mutate");
        decimal limit = 0.0001m;
        ServiceProvider sp = new ServiceCollection().AddDifyMetadata(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit })
            .AddDifyBudgetRedisStore(garnet.Configuration).BuildServiceProvider();
        await using (sp)
        {
            IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);
            await TryAsync(() => client.GetResponseAsync("warm up the connection", new ChatOptions { MaxOutputTokens = 10 }.WithDifyAppId(Unique("other"))));

            var history = new List<AIChatMessage> { new(AIChatRole.User, "hi") };
            Task<ChatResponse> call = client.GetResponseAsync(history, new ChatOptions { MaxOutputTokens = 10 }.WithDifyAppId(app));
            history.Add(new AIChatMessage(AIChatRole.User, new string('x', 400_000)));
            await TryAsync(() => call);

            await using var reader = new MeaiMetadata.Redis.RedisDifyBudgetStore(garnet.Configuration);
            long spent = await reader.SpentOfAsync(Key(app));
            output.WriteLine($"body {server.Requests[^1].Body.Length} chars; spent {spent / Nano} USD of {limit} USD");
            Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD: a message added during the reservation was sent but not reserved");
        }
    }

    // ---------------------------------------------------------------------------------------------------------------------
    // 4. A provider that reports usage in parts (input first, output at the end; Anthropic's message_start/message_delta):
    //    a stream abandoned after the first part settles to the input alone.
    // ---------------------------------------------------------------------------------------------------------------------
    [Fact]
    public async Task Streaming_AbandonedAfterPartialUsage_SettlesBelowWhatWasProduced()
    {
        string app = Unique("partial");
        var inner = new PartialUsageChatClient();
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);

        int received = 0;
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync("hello", new ChatOptions { ModelId = Model, MaxOutputTokens = 10_000 }.WithDifyAppId(app)))
        {
            if (update.Text.Length > 0 && ++received == 5)
            {
                break; // the caller stops reading: 5 x 1,000 output tokens were produced (and are billed)
            }
        }

        long spent = store.SpentOf(Key(app));
        long produced = DifyBudgetCall.ToNano(Cost(10, 5 * 1000));
        output.WriteLine($"settled {spent / Nano} USD; produced at least {produced / Nano} USD");
        Assert.True(spent >= produced, $"settled {spent / Nano} USD < {produced / Nano} USD produced: partial usage was taken as the final usage");
    }

    // ---------------------------------------------------------------------------------------------------------------------
    // 5. One stream enumerated twice at once while the store is down (OnStoreFailure Allow): one DifyBudgetCall, two
    //    requests; the second settlement is skipped, its cost never reaches the store.
    // ---------------------------------------------------------------------------------------------------------------------
    [Fact]
    public async Task Streaming_EnumeratedTwiceConcurrently_StoreDownAtReserve_OneCostLost()
    {
        string app = Unique("twice");
        var flaky = new FlakyStore();
        var (sp, _) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m }, s => s.AddSingleton<IDifyBudgetStore>(flaky));
        var inner = new GatedChatClient();
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);

        IAsyncEnumerable<ChatResponseUpdate> stream = client.GetStreamingResponseAsync("hello", new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app));
        flaky.FailReserves = true;
        Task a = Task.Run(async () => { await foreach (ChatResponseUpdate _ in stream) { } });
        Task b = Task.Run(async () => { await foreach (ChatResponseUpdate _ in stream) { } });
        await inner.BothStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        flaky.FailReserves = false; // the store is back before they settle
        inner.Release.SetResult();
        await Task.WhenAll(a, b);

        long spent = flaky.Inner.SpentOf(Key(app));
        long actual = DifyBudgetCall.ToNano(Cost(1000, 100));
        output.WriteLine($"requests sent {inner.Calls}; settled {spent / Nano} USD; actual {2 * actual / Nano} USD");
        Assert.True(spent >= inner.Calls * actual, $"settled {spent / Nano} USD < {inner.Calls} requests x {actual / Nano} USD");
    }

    // ---------------------------------------------------------------------------------------------------------------------
    // 6. The layer stacked: one outside UseFunctionInvocation, one inside (where the docs say it is exact). The inner one
    //    sees the outer decision and stands down, so the tool loop runs on the outer single reservation.
    // ---------------------------------------------------------------------------------------------------------------------
    [Fact]
    public async Task Stacked_OuterAndInnerOfFunctionInvocation_InnerStandsDown_ToolLoopPassesLimit()
    {
        string app = Unique("stacked");
        var inner = new CountingChatClient();
        int calls = 0;
        static UsageDetails Usage() => new() { InputTokenCount = 10, OutputTokenCount = 100, TotalTokenCount = 110 };
        inner.Answer = (messages, options) => Interlocked.Increment(ref calls) <= 5
            ? new ChatResponse(new AIChatMessage(AIChatRole.Assistant, [new FunctionCallContent("c" + calls, "tick")])) { Usage = Usage(), ModelId = Model }
            : new ChatResponse(new AIChatMessage(AIChatRole.Assistant, "done")) { Usage = Usage(), ModelId = Model };
        decimal perCall = Cost(10, 100);
        decimal limit = 2 * perCall; // the inner layer alone lets 1 call through, then refuses
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().UseFunctionInvocation().UseDifyMetadata().Build(sp);

        AIFunction tick = AIFunctionFactory.Create(() => "tock", "tick");
        await TryAsync(() => client.GetResponseAsync("go", new ChatOptions { ModelId = Model, MaxOutputTokens = 100, Tools = [tick] }.WithDifyAppId(app)));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"model requests {inner.Calls}; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD in {inner.Calls} model requests");
    }

    // 6c. ConfigureOptions inside the layer raises MaxOutputTokens: the cap on raw options should still hold.
    [Fact]
    public async Task ConfigureOptionsInside_RaisesMaxOutputTokens_IsCappedToTheReservation()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions
        {
            UsageOf = r => new FakeUsage(16, r.Body.Contains("\"max_completion_tokens\":50000", StringComparison.Ordinal) ? 50_000 : 10),
        });
        string app = Unique("cfg-max");
        decimal limit = 0.001m;
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient())
            .UseDifyMetadata().ConfigureOptions(o => o.MaxOutputTokens = 50_000).Build(sp);

        await TryAsync(() => client.GetResponseAsync("hello", new ChatOptions { MaxOutputTokens = 10 }.WithDifyAppId(app)));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"body {server.Requests[0].Body}; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD");
    }

    // 6d. A caller's raw factory adds input the estimate never sees (tools on the raw ChatCompletionOptions).
    [Fact]
    public async Task RawRepresentationFactory_AddsInput_ToolsOnRawOptions_NotEstimated()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { ToolCalls = false, UsageOf = r => new FakeUsage(BilledInput(r), 10) });
        string app = Unique("raw-tools");
        decimal limit = 0.0001m;
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);

        var options = new ChatOptions
        {
            MaxOutputTokens = 10,
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions();
                raw.Tools.Add(ChatTool.CreateFunctionTool("lookup", new string('d', 400_000)));
                return raw;
            },
        }.WithDifyAppId(app);
        await TryAsync(() => client.GetResponseAsync("hi", options));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"body {server.Requests.FirstOrDefault()?.Body.Length} chars; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD: tools of the raw options were sent but not reserved");
    }

    // ---------------------------------------------------------------------------------------------------------------------
    // 7. Non-text content the estimate bounds by 50,000 tokens.
    // ---------------------------------------------------------------------------------------------------------------------

    // 7a. An inline PDF: OpenAI bills each page as an image plus its text. A 200-page PDF of a few KB reserves 50,000
    //     tokens; at gpt-4o's low 765 tokens per page image it is billed 153,000.
    [Fact]
    public async Task InlinePdf_ManyPages_BilledPerPage_AboveThe50kBound()
    {
        byte[] pdf = TinyPdf(pages: 200);
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions
        {
            // the fake bills what OpenAI documents for PDF input: per page, an image (765 tokens at gpt-4o, high detail,
            // letter page) plus its extracted text; the pages here have no text.
            UsageOf = r => new FakeUsage(r.Body.Contains("application/pdf", StringComparison.Ordinal) ? 200 * 765 : BilledInput(r), 10),
        });
        string app = Unique("pdf");
        decimal limit = 1.5m * Cost(50_000 + 200, 10, "gpt-4o"); // room for the reservation, not for what is billed
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient("gpt-4o").AsIChatClient()).UseDifyMetadata().Build(sp);

        var message = new AIChatMessage(AIChatRole.User, [new TextContent("summarise"), new DataContent(pdf, "application/pdf") { Name = "a.pdf" }]);
        await TryAsync(() => client.GetResponseAsync([message], new ChatOptions { MaxOutputTokens = 10 }.WithDifyAppId(app)));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"pdf {pdf.Length} bytes, sent {server.Requests.Count} ({server.Requests.FirstOrDefault()?.StatusCode}); spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD: a {pdf.Length}-byte, 200-page PDF reserved 50,000 tokens");
    }

    // 7b. An image returned by a tool (FunctionResultContent holding a DataContent): reserved by its JSON bytes, not 50,000.
    [Fact]
    public async Task FunctionResultImage_ReservedByBytes_NotByTheImageBound()
    {
        byte[] png = new byte[2_000]; // a small (compressible) 2048 x 768 image: 48,169 tokens at gpt-4o-mini high detail
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions
        {
            ToolCalls = false,
            UsageOf = r => new FakeUsage(BilledInput(r) + (r.Body.Contains("image", StringComparison.Ordinal) ? 48_169 : 0), 10),
        });
        string app = Unique("fn-image");
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetResponsesClient().AsIChatClient(Model)).UseDifyMetadata().Build(sp);

        List<AIChatMessage> messages =
        [
            new(AIChatRole.User, "what is on the screen?"),
            new(AIChatRole.Assistant, [new FunctionCallContent("call_1", "screenshot")]),
            new(AIChatRole.Tool, [new FunctionResultContent("call_1", new AIContent[] { new DataContent(png, "image/png") })]),
        ];
        long estimate = DifyBudgetEstimate.InputTokens(messages, null, Model, null);
        await TryAsync(() => client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 16 }.WithDifyAppId(app)));

        string body = server.Requests.FirstOrDefault()?.Body ?? "";
        output.WriteLine($"estimate {estimate} tokens; body has an image part: {body.Contains("input_image", StringComparison.Ordinal)}; body {body[..Math.Min(body.Length, 600)]}");
        Assert.True(!body.Contains("input_image", StringComparison.Ordinal) || estimate >= DifyBudgetEstimate.PerNonText,
            $"an image sent as a tool result was estimated at {estimate} tokens, below the {DifyBudgetEstimate.PerNonText} bound of an image");
    }

    // 7c. Encrypted reasoning (TextReasoningContent.ProtectedData) is sent back as input and not counted.
    [Fact]
    public async Task EncryptedReasoning_SentBackAsInput_NotEstimated()
    {
        string secret = Convert.ToBase64String(new byte[300_000]);
        List<AIChatMessage> messages =
        [
            new(AIChatRole.User, "go"),
            new(AIChatRole.Assistant, [new TextReasoningContent("") { ProtectedData = secret }]),
            new(AIChatRole.User, "continue"),
        ];
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { UsageOf = r => new FakeUsage(BilledInput(r), 16) });
        string app = Unique("reasoning");
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetResponsesClient().AsIChatClient(Model)).UseDifyMetadata().Build(sp);
        long estimate = DifyBudgetEstimate.InputTokens(messages, null, Model, null);

        await TryAsync(() => client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 16 }.WithDifyAppId(app)));

        int bodyChars = server.Requests.FirstOrDefault()?.Body.Length ?? 0;
        output.WriteLine($"estimate {estimate} tokens; body {bodyChars} chars ({server.Requests.FirstOrDefault()?.StatusCode})");
        Assert.True(estimate >= bodyChars / 4, $"estimate {estimate} tokens for a {bodyChars}-character body: the encrypted reasoning was not counted");
    }

    // ---------------------------------------------------------------------------------------------------------------------
    // 9. The store is down for the whole call under OnStoreFailure Allow (the default): the request is sent unchecked and its
    //    settlement fails too, so its cost never reaches the store; once the store is back the app spends it again.
    // ---------------------------------------------------------------------------------------------------------------------
    [Fact]
    public async Task StoreDownForWholeCall_Allow_CostNeverRecorded_SpentAgainAfterRecovery()
    {
        string app = Unique("down");
        var flaky = new FlakyStore();
        decimal perCall = Cost(DifyBudgetEstimate.InputTokens([new AIChatMessage(AIChatRole.User, "hello")], null, Model, null), 100);
        var (sp, _) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 3 * perCall }, s => s.AddSingleton<IDifyBudgetStore>(flaky));
        var inner = new CountingChatClient { Usage = null }; // charged at the reservation
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);
        ChatOptions Options() => new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app);

        flaky.FailReserves = flaky.FailSettles = true; // a short outage: the calls made during it
        for (int i = 0; i < 3; i++)
        {
            await client.GetResponseAsync("hello", Options());
        }

        flaky.FailReserves = flaky.FailSettles = false;
        for (int i = 0; i < 3; i++)
        {
            await TryAsync(() => client.GetResponseAsync("hello", Options()));
        }

        long spent = flaky.Inner.SpentOf(Key(app));
        output.WriteLine($"sent {inner.Calls} requests worth {perCall} USD each against a limit worth 3; the store holds {spent / Nano} USD");
        Assert.True(spent >= DifyBudgetCall.ToNano(perCall) * inner.Calls, $"the store holds {spent / Nano} USD for {inner.Calls} requests of {perCall} USD");
    }

    // 10. A caller's raw options reach past the output cap with a JSON patch: n choices multiply the output (10), or the
    //     output bound itself is patched after the cap was applied to the property (10b).
    [Theory]
    [InlineData("n", 8, 1000, 8 * 1000, 1000, 2)]
    [InlineData("max_completion_tokens", 50_000, 10, 50_000, 10, 119)]
    public async Task RawRepresentationFactory_PatchedOutput_IsReserved(string field, int value, int usualOutput, int patchedOutput, int maxOutputTokens, int requestsWorth)
    {
        string patched = $"\"{field}\":{value}";
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions
        {
            UsageOf = r => new FakeUsage(16, r.Body.Contains(patched, StringComparison.Ordinal) ? patchedOutput : usualOutput),
        });
        string app = Unique("patch-" + field);
        decimal limit = requestsWorth * Cost(16, usualOutput);
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = limit });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);
        var options = new ChatOptions
        {
            MaxOutputTokens = maxOutputTokens,
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions();
                raw.Patch.Set(System.Text.Encoding.UTF8.GetBytes("$." + field), value);
                return raw;
            },
        }.WithDifyAppId(app);
        await TryAsync(() => client.GetResponseAsync("hi", options));

        long spent = store.SpentOf(Key(app));
        output.WriteLine($"status {server.Requests.FirstOrDefault()?.StatusCode} {server.Requests.FirstOrDefault()?.Error}; body {server.Requests.FirstOrDefault()?.Body}; spent {spent / Nano} USD of {limit} USD");
        Assert.True(spent <= limit * Nano, $"spent {spent / Nano} USD > limit {limit} USD");
    }

    // 13. A ContinuationToken turns the budget off (a background poll sends no model request), but the Chat Completions
    //     client ignores the token and sends a full request: unreserved and never settled.
    [Fact]
    public async Task ContinuationToken_OnChatCompletions_RequestSentWithoutBudget()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { InputTokens = 16, OutputTokens = 100 });
        string app = Unique("token");
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 0m }); // 0 refuses every request
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);

        var options = new ChatOptions { MaxOutputTokens = 100, ContinuationToken = ResponseContinuationToken.FromBytes(new byte[] { 1, 2, 3 }) }.WithDifyAppId(app);
        Exception? error = await Record.ExceptionAsync(() => client.GetResponseAsync("hello", options));
        Exception? streamError = await Record.ExceptionAsync(async () =>
        {
            await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hello", options)) { }
        });

        output.WriteLine($"non-streaming: {error?.GetType().Name ?? "answered"}; streaming: {streamError?.GetType().Name ?? "answered"}; the fake saw {server.Requests.Count} requests; spent {store.SpentOf(Key(app)) / Nano} USD of a 0 USD budget");
        Assert.Empty(server.Requests);
    }

    // 14. ChatOptions.AdditionalProperties asking for more choices (held if the adapter does not pass them on).
    [Fact]
    public async Task AdditionalProperties_N_NotPassedOn()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { InputTokens = 16, OutputTokens = 100 });
        string app = Unique("props");
        var (sp, _) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);
        var options = new ChatOptions { MaxOutputTokens = 100, AdditionalProperties = new() { ["n"] = 8, ["max_completion_tokens"] = 50_000 } }.WithDifyAppId(app);
        await client.GetResponseAsync("hello", options);
        string body = server.Requests[0].Body;
        output.WriteLine(body);
        Assert.DoesNotContain("\"n\":8", body, StringComparison.Ordinal);
        Assert.DoesNotContain("50000", body, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------------------------------------------------------------
    // Attempts expected to hold.
    // ---------------------------------------------------------------------------------------------------------------------

    // H1. Many apps, bursts, limits reached at once, on Garnet with 3 instances: every app within its limit, every refused
    //     request sent nothing, every alert threshold claimed exactly once per app.
    [Fact]
    public async Task Garnet_ManyAppsBurst_EveryAppWithinLimit_OneAlertPerThreshold()
    {
        const int apps = 20, perApp = 40, worth = 10;
        decimal perCall = Cost(DifyBudgetEstimate.InputTokens([new AIChatMessage(AIChatRole.User, "hello")], null, Model, null), 100);
        decimal limit = worth * perCall;
        string run = Unique("burst");
        var inner = new PerAppCountingClient();
        var alerts = new ConcurrentBag<DifyBudgetAlert>();
        var providers = new List<ServiceProvider>();
        var clients = new List<IChatClient>();
        for (int i = 0; i < 3; i++)
        {
            ServiceProvider services = new ServiceCollection()
                .AddDifyMetadata(o =>
                {
                    o.Budgets.Default = new DifyBudget { LimitUsd = limit, Period = DifyBudgetPeriod.Day };
                    o.Budgets.AlertAt.Add(0.5);
                    o.Budgets.AlertAt.Add(0.9);
                    o.Budgets.AlertAt.Add(1.0);
                    o.Budgets.OnAlert = alerts.Add;
                })
                .AddDifyBudgetRedisStore(garnet.Configuration).BuildServiceProvider();
            providers.Add(services);
            clients.Add(new ChatClientBuilder(inner).UseDifyMetadata().Build(services));
        }

        try
        {
            int refused = 0;
            await Task.WhenAll(Enumerable.Range(0, apps * perApp).Select(i => Task.Run(async () =>
            {
                string app = $"{run}-{i % apps}";
                try
                {
                    await clients[i % 3].GetResponseAsync("hello", new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app));
                }
                catch (DifyBudgetExceededException)
                {
                    _ = Interlocked.Increment(ref refused);
                }
            })));

            await using var reader = new MeaiMetadata.Redis.RedisDifyBudgetStore(garnet.Configuration);
            for (int a = 0; a < apps; a++)
            {
                string app = $"{run}-{a}";
                long spent = await reader.SpentOfAsync(Key(app, DifyBudgetPeriod.Day));
                Assert.True(spent <= limit * Nano, $"{app}: spent {spent / Nano} > {limit}");
                Assert.True(inner.CallsOf(app) <= worth, $"{app}: {inner.CallsOf(app)} requests sent, budget worth {worth}");
                foreach (double t in new[] { 0.5, 0.9, 1.0 })
                {
                    int n = alerts.Count(x => x.AppId == app && x.Threshold == t);
                    Assert.True(t == 1.0 ? n <= 1 : n == 1, $"{app}: {n} alerts at {t}");
                }
            }

            output.WriteLine($"{apps} apps x {perApp}: sent {inner.Calls}, refused {refused}, alerts {alerts.Count}");
            Assert.Equal(apps * perApp, inner.Calls + refused);
        }
        finally
        {
            foreach (ServiceProvider p in providers)
            {
                await p.DisposeAsync();
            }
        }
    }

    // H2. The same burst on the in-memory store of one process (one service provider, many threads).
    [Fact]
    public async Task InMemory_ManyAppsBurst_EveryAppWithinLimit_OneAlertPerThreshold()
    {
        const int apps = 25, perApp = 60, worth = 7;
        decimal perCall = Cost(DifyBudgetEstimate.InputTokens([new AIChatMessage(AIChatRole.User, "hello")], null, Model, null), 100);
        decimal limit = worth * perCall;
        var alerts = new ConcurrentBag<DifyBudgetAlert>();
        var (sp, store) = Services(o =>
        {
            o.Budgets.Default = new DifyBudget { LimitUsd = limit, Period = DifyBudgetPeriod.Day };
            o.Budgets.AlertAt.Add(0.5);
            o.Budgets.AlertAt.Add(1.0);
            o.Budgets.OnAlert = alerts.Add;
        });
        var inner = new PerAppCountingClient();
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);
        string run = Unique("mem");
        await Task.WhenAll(Enumerable.Range(0, apps * perApp).Select(i => Task.Run(() =>
            TryAsync(() => client.GetResponseAsync("hello", new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId($"{run}-{i % apps}"))))));

        for (int a = 0; a < apps; a++)
        {
            string app = $"{run}-{a}";
            Assert.True(store.SpentOf(Key(app, DifyBudgetPeriod.Day)) <= limit * Nano);
            Assert.True(inner.CallsOf(app) <= worth);
            Assert.True(alerts.Count(x => x.AppId == app && x.Threshold == 0.5) == 1, $"{app}: alerts at 0.5: {alerts.Count(x => x.AppId == app && x.Threshold == 0.5)}");
        }
    }

    // H3. The store fails at settlement (after the request was sent): the reservation stays charged (no under-count).
    [Fact]
    public async Task StoreFailsAtSettle_ReservationStaysCharged()
    {
        string app = Unique("settle-fail");
        var flaky = new FlakyStore { FailSettles = true };
        var (sp, _) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m }, s => s.AddSingleton<IDifyBudgetStore>(flaky));
        var inner = new CountingChatClient();
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);

        await client.GetResponseAsync("hello", new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app));
        long reserved = DifyBudgetCall.ToNano(Cost(DifyBudgetEstimate.InputTokens([new AIChatMessage(AIChatRole.User, "hello")], null, Model, null), 100));
        Assert.Equal(reserved, flaky.Inner.SpentOf(Key(app)));
    }

    // H4. The store fails at reservation (Allow): the request is sent unchecked and its actual cost is added at settlement.
    [Fact]
    public async Task StoreFailsAtReserve_Allow_ActualCostAddedAtSettle()
    {
        string app = Unique("reserve-fail");
        var flaky = new FlakyStore { FailReserves = true };
        var (sp, _) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m }, s => s.AddSingleton<IDifyBudgetStore>(flaky));
        var inner = new CountingChatClient();
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);
        var call = client.GetResponseAsync("hello", new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app));
        await call;
        Assert.Equal(DifyBudgetCall.ToNano(Cost(5, 3)), flaky.Inner.SpentOf(Key(app)));
    }

    // H5. The store fails at reservation (Refuse): nothing is sent.
    [Fact]
    public async Task StoreFailsAtReserve_Refuse_SendsNothing()
    {
        string app = Unique("refuse");
        var flaky = new FlakyStore { FailReserves = true };
        var (sp, _) = Services(o => { o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m }; o.Budgets.OnStoreFailure = DifyBudgetStoreFailure.Refuse; },
            s => s.AddSingleton<IDifyBudgetStore>(flaky));
        var inner = new CountingChatClient();
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);
        await Assert.ThrowsAsync<DifyBudgetExceededException>(() => client.GetResponseAsync("hello", new ChatOptions { ModelId = Model }.WithDifyAppId(app)));
        await Assert.ThrowsAsync<DifyBudgetExceededException>(async () =>
        {
            await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hello", new ChatOptions { ModelId = Model }.WithDifyAppId(app))) { }
        });
        Assert.Equal(0, inner.Calls);
    }

    // H6. Streams with the real SDK cancelled before the first update, after it, or abandoned before usage: each stays
    //     charged at its reservation; a stream never enumerated reserves and sends nothing; one enumerated twice in a row
    //     is charged twice.
    [Fact]
    public async Task Streams_CancelledAbandonedNeverOrTwiceEnumerated_NeverUnderCount()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { InputTokens = 10, OutputTokens = 100 });
        string app = Unique("streams");
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);
        ChatOptions Options() => new ChatOptions { MaxOutputTokens = 100 }.WithDifyAppId(app);
        long reservation = DifyBudgetCall.ToNano(Cost(DifyBudgetEstimate.InputTokens([new AIChatMessage(AIChatRole.User, "hello")], null, Model, null), 100));
        long actual = DifyBudgetCall.ToNano(Cost(10, 100));

        // never enumerated
        _ = client.GetStreamingResponseAsync("hello", Options());
        Assert.Equal(0, store.SpentOf(Key(app)));
        Assert.Empty(server.Requests);

        // cancelled before the first update
        using (var cts = new CancellationTokenSource())
        {
            cts.Cancel();
            await TryAsync(async () => { await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hello", Options(), cts.Token)) { } });
        }

        long afterCancel = store.SpentOf(Key(app));

        // cancelled after the first update (before usage)
        using (var cts = new CancellationTokenSource())
        {
            await TryAsync(async () =>
            {
                await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hello", Options(), cts.Token))
                {
                    cts.Cancel();
                }
            });
        }

        long afterMid = store.SpentOf(Key(app));

        // abandoned after the first update
        await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hello", Options()))
        {
            break;
        }

        long afterAbandon = store.SpentOf(Key(app));

        // one stream enumerated twice in a row
        IAsyncEnumerable<ChatResponseUpdate> twice = client.GetStreamingResponseAsync("hello", Options());
        await foreach (ChatResponseUpdate _ in twice) { }
        await foreach (ChatResponseUpdate _ in twice) { }
        long afterTwice = store.SpentOf(Key(app));

        int sent = server.Requests.Count;
        output.WriteLine($"sent {sent}; spent after cancel-before {afterCancel}, cancel-mid {afterMid}, abandon {afterAbandon}, twice {afterTwice}; reservation {reservation}, actual {actual}");
        Assert.True(afterTwice - afterAbandon >= 2 * actual, "a stream enumerated twice must be charged twice");
        Assert.True(afterTwice >= sent * actual, $"{sent} requests sent, spent {afterTwice} < {sent * actual}");
    }

    // H7. The byte bound holds on non-ASCII text and many messages: the estimate is at least o200k's count plus OpenAI's
    //     per-message overhead (3 tokens a message, 3 a request).
    [Fact]
    public void Estimate_NonAsciiAndManyMessages_AtLeastTheEncoding()
    {
        var tokenizer = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForModel("gpt-4o");
        var texts = new[] { "日本語のテキスト、絵文字🙂🙂🙂", "Ünïcödé ẞtraße ǅ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙", "a", "", "\u0301\u0301\u0301", string.Concat(Enumerable.Repeat("🙂", 500)), "ab" };
        List<AIChatMessage> messages = [.. Enumerable.Range(0, 2000).Select(i => new AIChatMessage(i % 2 == 0 ? AIChatRole.User : AIChatRole.Assistant, texts[i % texts.Length]))];
        long estimate = DifyBudgetEstimate.InputTokens(messages, null, Model, null);
        long encoded = 3 + messages.Sum(m => 3 + tokenizer.CountTokens(m.Role.Value) + tokenizer.CountTokens(m.Text));
        output.WriteLine($"estimate {estimate}, o200k {encoded}");
        Assert.True(estimate >= encoded);
    }

    // H8. Reasoning and cached tokens: reasoning is inside the output count (charged), cached input is never charged above
    //     the reservation's uncached price.
    [Fact]
    public async Task ReasoningAndCachedTokens_SettledAtLeastTheirCost()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { InputTokens = 10, CachedInputTokens = 8, OutputTokens = 100, ReasoningTokens = 90 });
        string app = Unique("reasoning-tokens");
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(OpenAI(server).GetChatClient(Model).AsIChatClient()).UseDifyMetadata().Build(sp);
        await client.GetResponseAsync("hello", new ChatOptions { MaxOutputTokens = 100 }.WithDifyAppId(app));
        long expected = DifyBudgetCall.ToNano(Spend.DifyPriceTable.BuiltIn.GetCost(Model, 10, 8, 100)!.Value);
        Assert.Equal(expected, store.SpentOf(Key(app)));
    }

    // H9. Bogus usage: negative counts never cancel a positive one.
    [Fact]
    public async Task BogusUsage_NegativeInput_DoesNotCancelOutput()
    {
        string app = Unique("bogus");
        var inner = new CountingChatClient { Usage = new() { InputTokenCount = -1_000_000, OutputTokenCount = 100 } };
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);
        await client.GetResponseAsync("hello", new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app));
        Assert.True(store.SpentOf(Key(app)) >= DifyBudgetCall.ToNano(Cost(0, 100)));
    }

    // H10. A call that crosses the end of the month settles in the month it reserved in (TimeProvider from DI).
    [Fact]
    public async Task CallCrossingMonthEnd_SettlesInTheReservedMonth()
    {
        string app = Unique("month-end");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 2, 28, 23, 59, 59, TimeSpan.Zero));
        var inner = new CountingChatClient { Answer = (m, o) => { time.Advance(TimeSpan.FromSeconds(5)); return new ChatResponse(new AIChatMessage(AIChatRole.Assistant, "ok")) { Usage = new() { InputTokenCount = 5, OutputTokenCount = 3 }, ModelId = Model }; } };
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m }, s => s.AddSingleton<TimeProvider>(time));
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);
        await client.GetResponseAsync("hello", new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app));
        string feb = DifyBudgetCall.KeyOf(app, DifyBudgetPeriod.Month, new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero));
        string mar = DifyBudgetCall.KeyOf(app, DifyBudgetPeriod.Month, new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero));
        Assert.Equal(DifyBudgetCall.ToNano(Cost(5, 3)), store.SpentOf(feb));
        Assert.Equal(0, store.SpentOf(mar));
    }

    // H12. Usage with only a total (no input/output split) stays charged at the reservation.
    [Fact]
    public async Task UsageWithOnlyTotal_StaysAtTheReservation()
    {
        string app = Unique("total-only");
        var inner = new CountingChatClient { Usage = new() { TotalTokenCount = 1 } };
        var (sp, store) = Services(o => o.Budgets.Apps[app] = new DifyBudget { LimitUsd = 1m });
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);
        await client.GetResponseAsync("hello", new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app));
        Assert.Equal(DifyBudgetCall.ToNano(Cost(DifyBudgetEstimate.InputTokens([new AIChatMessage(AIChatRole.User, "hello")], null, Model, null), 100)), store.SpentOf(Key(app)));
    }

    // H11. Huge tool definitions and response-format schemas are counted.
    [Fact]
    public void Estimate_HugeToolsAndSchema_Counted()
    {
        string big = new('d', 100_000);
        AIFunction tool = AIFunctionFactory.Create(() => "x", "f", big);
        var schema = System.Text.Json.JsonDocument.Parse($"{{\"type\":\"object\",\"description\":\"{big}\"}}").RootElement;
        var options = new ChatOptions { Tools = [tool], ResponseFormat = Microsoft.Extensions.AI.ChatResponseFormat.ForJsonSchema(schema, "s") };
        Assert.True(DifyBudgetEstimate.InputTokens([new AIChatMessage(AIChatRole.User, "hi")], options, Model, null) >= 200_000);
    }

    // ---------------------------------------------------------------------------------------------------------------------

    private static async Task TryAsync(Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (DifyBudgetExceededException)
        {
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>A tiny PDF of <paramref name="pages"/> empty letter pages (valid enough for a byte count).</summary>
    private static byte[] TinyPdf(int pages)
    {
        var sb = new StringBuilder("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[");
        for (int i = 0; i < pages; i++)
        {
            sb.Append(3 + i).Append(" 0 R ");
        }

        sb.Append("]/Count ").Append(pages).Append("/MediaBox[0 0 612 792]>>endobj\n");
        for (int i = 0; i < pages; i++)
        {
            sb.Append(3 + i).Append(" 0 obj<</Type/Page/Parent 2 0 R>>endobj\n");
        }

        sb.Append("trailer<</Root 1 0 R>>\n%%EOF\n");
        return Encoding.ASCII.GetBytes(sb.ToString());
    }
    // 11. A configuration reload that changes an app's Period must not forget the spend already made: every operation also
    //     keeps the app's other kind of period (its month for a day), so a Day budget switched to Month finds today's spend.
    [Theory]
    [InlineData("Day", "Month")]
    [InlineData("Month", "Day")]
    public async Task Reload_PeriodSwitched_KeepsTheSpendAlreadyMade(string before, string after)
    {
        string app = Unique("reload");
        decimal perCall = Cost(DifyBudgetEstimate.InputTokens([new AIChatMessage(AIChatRole.User, "hello")], null, Model, null), 100);
        var settings = new Dictionary<string, string?>
        {
            [$"Budgets:Apps:{app}:LimitUsd"] = (3 * perCall).ToString(System.Globalization.CultureInfo.InvariantCulture),
            [$"Budgets:Apps:{app}:Period"] = before,
        };
        var configuration = (Microsoft.Extensions.Configuration.IConfigurationRoot)Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(new Microsoft.Extensions.Configuration.ConfigurationBuilder(), settings).Build();
        ServiceProvider sp = new ServiceCollection().AddDifyMetadata(configuration).BuildServiceProvider();
        var inner = new CountingChatClient { Usage = null };
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(sp);
        ChatOptions Options() => new ChatOptions { ModelId = Model, MaxOutputTokens = 100 }.WithDifyAppId(app);
        for (int i = 0; i < 2; i++)
        {
            await TryAsync(() => client.GetResponseAsync("hello", Options()));
        }

        configuration[$"Budgets:Apps:{app}:Period"] = after; // the same limit, now for the other kind of period
        configuration.Reload();
        for (int i = 0; i < 4; i++)
        {
            await TryAsync(() => client.GetResponseAsync("hello", Options()));
        }

        output.WriteLine($"sent in all, {before} then {after}: {inner.Calls} (limit worth 3)");
        Assert.Equal(3, inner.Calls); // 2 before the switch, 1 after: today is in this month, and this month holds today
    }


    /// <summary>A store that fails its operations on demand, over an in-memory store.</summary>
    private sealed class FlakyStore : IDifyBudgetStore
    {
        public InMemoryDifyBudgetStore Inner { get; } = new();

        public volatile bool FailReserves;
        public volatile bool FailSettles;

        public ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken) =>
            FailReserves ? throw new TimeoutException("store down") : Inner.ReserveAsync(key, amount, limit, cancellationToken);

        public ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken) =>
            FailSettles ? throw new TimeoutException("store down") : Inner.SettleAsync(key, delta, alertAt, cancellationToken);
    }

    /// <summary>Streams usage in two parts: input at the start, output at the end; 1,000 output tokens per text update.</summary>
    private sealed class PartialUsageChatClient : IChatClient
    {
        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
            IEnumerable<AIChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            yield return new ChatResponseUpdate { ModelId = options?.ModelId, Contents = [new UsageContent(new UsageDetails { InputTokenCount = 10 })] };
            for (int i = 0; i < 10; i++)
            {
                yield return new ChatResponseUpdate(AIChatRole.Assistant, "chunk ");
            }

            yield return new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { OutputTokenCount = 10_000 })] };
        }

        public Task<ChatResponse> GetResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    /// <summary>A stream that waits, after its first update, until both of two enumerations have started.</summary>
    private sealed class GatedChatClient : IChatClient
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public TaskCompletionSource BothStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
            IEnumerable<AIChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            if (Interlocked.Increment(ref _calls) == 2)
            {
                BothStarted.SetResult();
            }

            yield return new ChatResponseUpdate(AIChatRole.Assistant, "o") { ModelId = options?.ModelId };
            await Release.Task;
            yield return new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { InputTokenCount = 1000, OutputTokenCount = 100 })] };
        }

        public Task<ChatResponse> GetResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    /// <summary>Counts requests per app (from the metadata the layer attaches); answers without usage (charged at the
    /// reservation).</summary>
    private sealed class PerAppCountingClient : IChatClient
    {
        private readonly ConcurrentDictionary<string, int> _byApp = new();
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public int CallsOf(string app) => _byApp.TryGetValue(app, out int n) ? n : 0;

        public async Task<ChatResponse> GetResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            _ = Interlocked.Increment(ref _calls);
            string app = DifyRequestDecision.Of(options)?.AppId ?? "?";
            _byApp.AddOrUpdate(app, 1, (_, n) => n + 1);
            await Task.Yield();
            return new ChatResponse(new AIChatMessage(AIChatRole.Assistant, "ok")) { ModelId = options?.ModelId };
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}
