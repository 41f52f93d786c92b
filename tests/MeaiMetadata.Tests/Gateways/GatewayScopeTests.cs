using MeaiMetadata.Gateways;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tests.Gateways;

public class GatewayScopeTests
{
    private static readonly AsyncLocal<string?> s_probe = new();

    private static GatewayRequestHeaders Headers(string appId)
    {
        Assert.Null(GatewayHeader.TryParseAll(["X-App: text"], out GatewayHeader[] gateways));
        return GatewayRequestHeaders.For(Decisions.Of(appId), gateways)!;
    }

    [Fact]
    public void WhyNotTheFactory_AValueSetInASynchronousStreamFactory_StaysInTheCallersFlow()
    {
        // The hazard this design avoids: MEAI's OpenAI clients ask for the raw options in a synchronous method that returns
        // the stream; an AsyncLocal set there is still set for the caller afterwards.
        IAsyncEnumerable<int> SetInFactory()
        {
            s_probe.Value = "leaked";
            return AsyncEnumerable.Empty<int>();
        }

        _ = SetInFactory();

        Assert.Equal("leaked", s_probe.Value);
        s_probe.Value = null;
    }

    [Fact]
    public async Task RunAsync_HeadersCurrentInside_GoneForTheCaller()
    {
        GatewayRequestHeaders headers = Headers("a");
        GatewayRequestHeaders? inside = null, afterAwait = null;

        ChatResponse response = await GatewayScope.RunAsync(headers, async () =>
        {
            inside = GatewayScope.Current;
            await Task.Yield();
            afterAwait = GatewayScope.Current;
            return new ChatResponse();
        });

        Assert.NotNull(response);
        Assert.Same(headers, inside);
        Assert.Same(headers, afterAwait);
        Assert.Null(GatewayScope.Current);
    }

    [Fact]
    public void RunAsync_CompletingSynchronously_StillGoneForTheCaller()
    {
        Task<ChatResponse> task = GatewayScope.RunAsync(Headers("a"), () => Task.FromResult(new ChatResponse()));

        Assert.True(task.IsCompletedSuccessfully);
        Assert.Null(GatewayScope.Current);
    }

    [Fact]
    public async Task Stream_CurrentWhileOpeningAndAdvancing_NeverWhileTheConsumerRuns()
    {
        GatewayRequestHeaders headers = Headers("a");
        var seenByProvider = new List<GatewayRequestHeaders?>();

        async IAsyncEnumerable<ChatResponseUpdate> Provider()
        {
            seenByProvider.Add(GatewayScope.Current);
            await Task.Yield();
            seenByProvider.Add(GatewayScope.Current);
            yield return new ChatResponseUpdate();
            seenByProvider.Add(GatewayScope.Current);
            yield return new ChatResponseUpdate();
        }

        IAsyncEnumerable<ChatResponseUpdate> stream = GatewayScope.Stream(headers, _ =>
        {
            seenByProvider.Add(GatewayScope.Current); // the synchronous open, where MEAI calls the raw-options factory
            return Provider();
        }, CancellationToken.None);
        Assert.Null(GatewayScope.Current);

        int updates = 0;
        await foreach (ChatResponseUpdate update in stream)
        {
            updates++;
            Assert.Null(GatewayScope.Current);
        }

        Assert.Equal(2, updates);
        Assert.Null(GatewayScope.Current);
        Assert.Equal(4, seenByProvider.Count);
        Assert.All(seenByProvider, seen => Assert.Same(headers, seen));
    }

    [Fact]
    public async Task NestedScopes_TheInnerDecisionWins_TheOuterComesBack()
    {
        GatewayRequestHeaders outer = Headers("outer"), inner = Headers("inner");
        GatewayRequestHeaders? inInner = null, backInOuter = null;

        await GatewayScope.RunAsync(outer, async () =>
        {
            await GatewayScope.RunAsync(inner, () =>
            {
                inInner = GatewayScope.Current;
                return Task.FromResult(new ChatResponse());
            });
            backInOuter = GatewayScope.Current;
            return new ChatResponse();
        });

        Assert.Same(inner, inInner);
        Assert.Same(outer, backInOuter);
    }
}
