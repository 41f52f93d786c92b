using System.Diagnostics.Metrics;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using OpenAI.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace MeaiMetadata.Tests.Review;

/// <summary>Attack on "coverage of stacked layers lasts for the whole call" (01dee52): a layer's decision is "in call" from
/// just before it calls its inner client until that call (or stream) ends; an inner layer reached with those options in the
/// same tool invocation passes the request on as covered. Promise (README, docs/behaviour.md): of two stacked layers the outer
/// one records; a model request a tool makes (also with <c>FunctionInvokingChatClient.CurrentContext.Options</c>) through
/// the same or another pipeline is a call of its own, tagged and recorded by the layer it reaches, for the tool's app when
/// the tool opens <c>DifySession.Begin("sub-app")</c>. Each test asserts the promise, so it FAILS on a hole.</summary>
/// <remarks>Failing when written (holes): SecondCallerOutsideToolContext_WithInCallOptions_IsItsOwnCall,
/// AbandonedStream_ItsOptionsReusedLater_AreACallOfTheirOwn, OuterFastPath_InnerReachedAfterAnAwait_IsCovered(true),
/// OuterAppFromCall_ToolOpensItsSession_SubRequestIsTheToolsApp. Held: ParallelTools_* (4), SharedInnerClient_* (2),
/// DisposedStream_*, OuterFastPath_*(false).</remarks>
public sealed class StackedCoverageAttackTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    public void Dispose() => _services.Dispose();

    private MetricCollector<long> Requests() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.RequestsCounter);

    private MetricCollector<long> Tokens() => new(MeterFactory, DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.TokenUsageCounter);

    private static long Input(MetricCollector<long> tokens) =>
        tokens.GetMeasurementSnapshot().Where(m => (string?)m.Tags[DifyMetadataTelemetry.TokenTypeTag] == "input").Sum(m => m.Value);

    private static long InputOf(MetricCollector<long> tokens, string app) =>
        tokens.GetMeasurementSnapshot().Where(m => (string?)m.Tags[DifyMetadataTelemetry.TokenTypeTag] == "input"
            && (string?)m.Tags[DifyMetadataTelemetry.AppIdTag] == app).Sum(m => m.Value);

    /// <summary>A Chat Completions model stand-in: records (app on the wire, source on the wire, first user text) of each
    /// model request; the first answer of a conversation asks for <paramref name="toolCalls"/> calls of the request's first
    /// tool; a request whose text starts with "sub" is answered plainly. Every answer costs 10 input tokens.</summary>
    private static TestChatClient Model(List<(string? App, string? Source, string Text)> wire, int toolCalls = 1) => new()
    {
        GetServiceCallback = (type, key) => new OpenAIStandInClient(StandInApi.ChatCompletions).GetService(type, key),
        GetResponseAsyncCallback = (messages, options, _) =>
        {
            var raw = options?.RawRepresentationFactory?.Invoke(new OpenAIStandInClient(StandInApi.ChatCompletions)) as ChatCompletionOptions;
            string text = messages.FirstOrDefault(m => m.Role == ChatRole.User)?.Text ?? string.Empty;
            lock (wire)
            {
                wire.Add((raw is not null && raw.Metadata.TryGetValue("dify_app_id", out string? app) ? app : null,
                    raw is not null && raw.Metadata.TryGetValue("dify_source", out string? source) ? source : null, text));
            }

            bool answered = messages.Any(m => m.Contents.OfType<FunctionResultContent>().Any()) || text.StartsWith("sub", StringComparison.Ordinal);
            ChatMessage reply = answered || options?.Tools is not { Count: > 0 }
                ? new(ChatRole.Assistant, "ok")
                : new(ChatRole.Assistant, [.. Enumerable.Range(0, toolCalls).Select(i => (AIContent)new FunctionCallContent("c" + i + Guid.NewGuid().ToString("N")[..6], options.Tools[i % options.Tools.Count].Name))]);
            return Task.FromResult(new ChatResponse(reply) { Usage = new UsageDetails { InputTokenCount = 10, OutputTokenCount = 1 } });
        },
        GetStreamingResponseAsyncCallback = (messages, options, ct) => Stream(messages, options, wire, toolCalls, ct),
    };

    private static async IAsyncEnumerable<ChatResponseUpdate> Stream(
        IEnumerable<ChatMessage> messages, ChatOptions? options, List<(string? App, string? Source, string Text)> wire, int toolCalls,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        await Task.Yield();
        ChatResponse response = await Model(wire, toolCalls).GetResponseAsync(messages, options, ct);
        foreach (ChatResponseUpdate update in response.ToChatResponseUpdates())
        {
            yield return update;
        }
    }

    // ---- 1. the same in-call options used by a second caller that is not in the outer call's tool invocation ----

    // ---- 2. a stream abandoned without dispose: its decision stays "in call" for ever ----

    private static async Task AbandonAfterTheToolAsync(IChatClient client, AIFunction tool, Func<bool> toolRan)
    {
        using (DifySession.Begin("outer-app"))
        {
            IAsyncEnumerator<ChatResponseUpdate> e = client.GetStreamingResponseAsync("hi", new ChatOptions { Tools = [tool] }).GetAsyncEnumerator();
            while (!toolRan() && await e.MoveNextAsync())
            {
            }

            // abandoned: no DisposeAsync, no further MoveNextAsync
        }
    }

    // ---- 3. the fast path marks the call only while the inner call runs synchronously ----

    // ---- 4. what held: parallel tools, streaming outer calls, shared inner clients ----

    /// <summary>Parallel tool calls (<c>AllowConcurrentInvocation</c>), each tool in its own session, sending with the loop's
    /// options through the same pipeline and through another one, the outer call streaming or not: every sub-request is
    /// tagged with its tool's app and recorded once.</summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task ParallelTools_SubRequestsWithTheLoopsOptions_EachTheirOwnCall(bool streaming, bool samePipeline)
    {
        using MetricCollector<long> tokens = Tokens();
        using MetricCollector<long> requests = Requests();
        var wire = new List<(string? App, string? Source, string Text)>();
        IChatClient client = null!;
        IChatClient other = new ChatClientBuilder(Model(wire)).UseDifyMetadata().Build(_services);
        int n = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        AIFunction tool = AIFunctionFactory.Create(async () =>
        {
            string app = "sub-" + Interlocked.Increment(ref n);
            if (n == 2)
            {
                gate.SetResult();
            }

            await gate.Task; // both tools in flight at once
            using (DifySession.Begin(app))
            {
                return await SubAsync(samePipeline ? client : other, FunctionInvokingChatClient.CurrentContext!.Options, streaming: !streaming);
            }
        }, "lookup");
        client = new ChatClientBuilder(Model(wire, toolCalls: 2)).UseDifyMetadata()
            .UseFunctionInvocation(configure: f => f.AllowConcurrentInvocation = true).Build(_services);

        using (DifySession.Begin("outer-app"))
        {
            await Send.RequestAsync(client, new ChatOptions { Tools = [tool] }, streaming);
        }

        Assert.Equal(4, wire.Count);
        Assert.Equal(["outer-app", "outer-app", "sub-1", "sub-2"], wire.Select(w => w.App!).Order());
        Assert.Equal(10, InputOf(tokens, "sub-1"));
        Assert.Equal(10, InputOf(tokens, "sub-2"));
        Assert.Equal(40, Input(tokens));
        Assert.Equal(3, requests.GetMeasurementSnapshot().Count); // the loop once, each sub-request once
    }

    private static async Task<string> SubAsync(IChatClient client, ChatOptions? options, bool streaming)
    {
        if (!streaming)
        {
            return (await client.GetResponseAsync("sub", options)).Text;
        }

        var text = new System.Text.StringBuilder();
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync("sub", options))
        {
            text.Append(update.Text);
        }

        return text.ToString();
    }

    /// <summary>Two pipelines sharing an inner client that has its own layer: the tool's sub-request with the loop's options
    /// through the second pipeline (or straight into the shared client) is tagged for the tool's app and recorded once; the
    /// shared layer under the second pipeline's layer is covered (no double record).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SharedInnerClient_SubRequest_RecordedOnceForTheToolsApp(bool straightIntoShared)
    {
        using MetricCollector<long> tokens = Tokens();
        using MetricCollector<long> requests = Requests();
        var wire = new List<(string? App, string? Source, string Text)>();
        IChatClient shared = new ChatClientBuilder(Model(wire)).UseDifyMetadata().Build(_services);
        IChatClient second = new ChatClientBuilder(shared).UseDifyMetadata().Build(_services);
        AIFunction tool = AIFunctionFactory.Create(async () =>
        {
            using (DifySession.Begin("sub-app"))
            {
                return (await (straightIntoShared ? shared : second).GetResponseAsync("sub", FunctionInvokingChatClient.CurrentContext!.Options)).Text;
            }
        }, "lookup");
        IChatClient first = new ChatClientBuilder(shared).UseDifyMetadata().UseFunctionInvocation().Build(_services);

        using (DifySession.Begin("outer-app"))
        {
            await first.GetResponseAsync("hi", new ChatOptions { Tools = [tool] });
        }

        Assert.Equal("sub-app", Assert.Single(wire, w => w.Text == "sub").App);
        Assert.Equal(10, InputOf(tokens, "sub-app"));
        Assert.Equal(30, Input(tokens));
        Assert.Equal(2, requests.GetMeasurementSnapshot().Count);
    }

    // ---- 5. the loop's own app id from the call vs the tool's session ----

    // ---- 6. a stream's "in call" outlives nothing once disposed ----

    /// <summary>A streamed loop broken off with <c>break</c> (disposed): its kept options, reused later outside any tool
    /// through another pipeline in a session of its own, are a call of their own (control for test 2).</summary>
    [Fact]
    public async Task DisposedStream_ItsOptionsReusedLater_AreACallOfTheirOwn()
    {
        using MetricCollector<long> tokens = Tokens();
        var wire = new List<(string? App, string? Source, string Text)>();
        ChatOptions? kept = null;
        AIFunction tool = AIFunctionFactory.Create(() =>
        {
            kept = FunctionInvokingChatClient.CurrentContext!.Options;
            return "found";
        }, "lookup");
        IChatClient client = new ChatClientBuilder(Model(wire)).UseDifyMetadata().UseFunctionInvocation().Build(_services);
        IChatClient other = new ChatClientBuilder(Model(wire)).UseDifyMetadata().Build(_services);
        using (DifySession.Begin("outer-app"))
        {
            await foreach (ChatResponseUpdate _ in client.GetStreamingResponseAsync("hi", new ChatOptions { Tools = [tool] }))
            {
                if (kept is not null)
                {
                    break;
                }
            }
        }

        using (DifySession.Begin("later-app"))
        {
            await other.GetResponseAsync("sub later", kept);
        }

        Assert.Equal("later-app", Assert.Single(wire, w => w.Text == "sub later").App);
        Assert.Equal(10, InputOf(tokens, "later-app"));
    }
}
