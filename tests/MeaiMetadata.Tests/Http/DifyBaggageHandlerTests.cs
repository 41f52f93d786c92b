using System.Diagnostics;
using MeaiMetadata.Http;

namespace MeaiMetadata.Tests.Http;

public class DifyBaggageHandlerTests
{
    private static async Task<string?> SentBaggageAsync(Action<HttpRequestMessage>? prepare = null)
    {
        var capture = new CapturingHandler();
        using var client = new HttpClient(new DifyBaggageHandler(capture));
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1/");
        prepare?.Invoke(request);
        (await client.SendAsync(request)).Dispose();
        return capture.Baggage;
    }

    [Fact]
    public async Task NoSession_OrASessionThatDoesNotPropagate_ChangesNothing()
    {
        Assert.Null(await SentBaggageAsync());
        using (DifySession.Begin("quiet"))
        {
            Assert.Null(await SentBaggageAsync());
            Assert.Equal("a=1", await SentBaggageAsync(r => r.Headers.Add("baggage", "a=1")));
        }
    }

    [Theory]
    [InlineData("edge-app", "dify.app_id=edge-app")]
    [InlineData("a b,c;d=e\"f\\g", "dify.app_id=a%20b%2Cc%3Bd%3De%22f%5Cg")]
    [InlineData("line\r\nbreak\0", "dify.app_id=line%0D%0Abreak%00")]
    [InlineData("Équipe 🚀", "dify.app_id=%C3%89quipe%20%F0%9F%9A%80")]
    public async Task PropagatingSession_SendsThePercentEncodedAppId(string appId, string expected)
    {
        using (DifySession.Begin(appId, propagateAsBaggage: true))
        {
            Assert.Equal(expected, await SentBaggageAsync());
        }
    }

    [Fact]
    public async Task LongAppId_IsCutAs_OpenAIWouldCutIt()
    {
        using (DifySession.Begin(new string('x', 600), propagateAsBaggage: true))
        {
            Assert.Equal("dify.app_id=" + new string('x', 512), await SentBaggageAsync());
        }
    }

    [Fact]
    public async Task CallersBaggage_IsKept_ItsAppIdMemberReplaced()
    {
        using (DifySession.Begin("edge-app", propagateAsBaggage: true))
        {
            Assert.Equal(
                "dify.app_id=edge-app,a=1,b=2;prop",
                await SentBaggageAsync(r => r.Headers.TryAddWithoutValidation("baggage", "a=1, dify.app_id = forged ,b=2;prop")));
        }
    }

    [Fact]
    public async Task ActivityBaggage_IsKept_WhenTheCallerSetNoHeader()
    {
        using var activity = new Activity("request").AddBaggage("dify.app_id", "upstream").AddBaggage("region", "eu west").Start();
        using (DifySession.Begin("edge-app", propagateAsBaggage: true))
        {
            Assert.Equal("dify.app_id=edge-app,region=eu%20west", await SentBaggageAsync());
        }
    }

    [Fact]
    public async Task NestedSessions_TheInnermostOpenOneIsSent_AnEndedOneNever()
    {
        IDisposable outer = DifySession.Begin("outer", propagateAsBaggage: true);
        IDisposable inner = DifySession.Begin("inner", propagateAsBaggage: true);
        Assert.Equal("dify.app_id=inner", await SentBaggageAsync());

        outer.Dispose(); // out of order: the inner session stays current
        Assert.Equal("dify.app_id=inner", await SentBaggageAsync());

        var release = new TaskCompletionSource();
        Task<string?> late = Task.Run(async () =>
        {
            await release.Task;
            return await SentBaggageAsync();
        });
        inner.Dispose();
        release.SetResult();

        Assert.Null(await late); // a task that captured the ended session runs later: nothing is sent
        Assert.Null(await SentBaggageAsync());
    }

    private sealed class CapturingHandler : HttpMessageHandler
    {
        public string? Baggage { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Baggage = request.Headers.TryGetValues("baggage", out IEnumerable<string>? values) ? string.Join(",", values) : null;
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));
        }
    }
}
