using System.Diagnostics;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tests;

/// <summary>The trace tag and W3C Baggage propagation of <see cref="DifyMetadataChatClient"/>.</summary>
public sealed class DifyMetadataChatClientTracingTests : IDisposable
{
    private readonly ActivitySource _source = new($"tests.{Guid.NewGuid():N}");
    private readonly ActivityListener _listener;

    public DifyMetadataChatClientTracingTests()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s == _source,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose()
    {
        _listener.Dispose();
        _source.Dispose();
    }

    [Fact]
    public async Task Tagged_SetsAppIdOnTheCurrentActivity()
    {
        var client = new DifyMetadataChatClient(new OpenAIStandInClient(StandInApi.ChatCompletions));

        using Activity activity = _source.StartActivity("outer span")!;
        using (DifySession.Begin("traced-app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal("traced-app", activity.GetTagItem("dify.app_id"));
    }

    [Fact]
    public async Task OpenTelemetryLayerInside_ItsSpanGetsTheTag()
    {
        using var otelListener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "inner-otel",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        var spans = new List<Activity>();
        otelListener.ActivityStopped = spans.Add;
        ActivitySource.AddActivityListener(otelListener);
        IChatClient client = new ChatClientBuilder(new OpenAIStandInClient(StandInApi.Responses))
            .UseDifyMetadata()
            .UseOpenTelemetry(sourceName: "inner-otel")
            .Build();

        using (DifySession.Begin("inner-app"))
        {
            await client.GetResponseAsync("hi");
        }

        Activity span = Assert.Single(spans);
        Assert.Equal("inner-app", span.GetTagItem("dify.app_id"));
    }

    [Fact]
    public async Task Untagged_LeavesTheActivityAlone()
    {
        var client = new DifyMetadataChatClient(new OpenAIStandInClient(StandInApi.ChatCompletions));

        using Activity activity = _source.StartActivity("outer span")!;
        await client.GetResponseAsync("hi");

        Assert.Null(activity.GetTagItem("dify.app_id"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Baggage_NoSession_TagsWithTheBaggageItem(bool streaming)
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdFromBaggage = true });

        using Activity activity = _source.StartActivity("incoming request")!;
        activity.SetBaggage("dify.app_id", "from-gateway");
        using Activity child = _source.StartActivity("handler")!; // baggage is read up the parent chain
        await Send.RequestAsync(client, null, streaming);

        Assert.Equal("from-gateway", inner.LastChat.Metadata["dify_app_id"]);
    }

    [Fact]
    public async Task Baggage_SessionWins()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdFromBaggage = true });

        using Activity activity = _source.StartActivity("incoming request")!;
        activity.SetBaggage("dify.app_id", "from-gateway");
        using (DifySession.Begin("explicit"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal("explicit", inner.LastChat.Metadata["dify_app_id"]);
    }

    [Fact]
    public async Task Baggage_ReadWhenAsked_OutsideASession()
    {
        // Reading baggage is a trust decision (any caller can send it): off by default, on when asked.
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);

        using Activity activity = _source.StartActivity("incoming request")!;
        activity.SetBaggage("dify.app_id", "from-gateway");
        await new DifyMetadataChatClient(inner).GetResponseAsync("hi");
        Assert.Empty(inner.LastChat.Metadata);

        await new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdFromBaggage = true }).GetResponseAsync("hi");
        Assert.Equal("from-gateway", inner.LastChat.Metadata["dify_app_id"]);
        Assert.False(new DifyMetadataOptions().AppIdFromBaggage);
    }

    [Fact]
    public async Task Baggage_SwitchedOff_Untagged()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdFromBaggage = false });

        using Activity activity = _source.StartActivity("incoming request")!;
        activity.SetBaggage("dify.app_id", "from-gateway");
        await client.GetResponseAsync("hi");

        Assert.Empty(inner.LastChat.Metadata);
    }

    [Fact]
    public async Task BeginWithPropagation_DownstreamServiceReadsTheBaggage()
    {
        // Upstream: a propagating session; the baggage handler puts the id on the outgoing request.
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1/");
        using (DifySession.Begin("edge app, \"quoted\"", propagateAsBaggage: true))
        {
            MeaiMetadata.Http.DifyBaggageHandler.AddBaggage(request);
        }

        // Downstream: .NET's own propagator extracts the header onto the incoming request's activity; no session is open.
        IEnumerable<KeyValuePair<string, string?>>? baggage = DistributedContextPropagator.Current.ExtractBaggage(
            request,
            static (carrier, name, out value, out values) =>
            {
                values = null;
                value = ((HttpRequestMessage)carrier!).Headers.TryGetValues(name, out IEnumerable<string>? found) ? string.Join(",", found) : null;
            });
        var inner = new OpenAIStandInClient(StandInApi.Responses);
        using Activity incoming = _source.StartActivity("downstream request")!;
        foreach (KeyValuePair<string, string?> item in baggage!)
        {
            incoming.AddBaggage(item.Key, item.Value);
        }

        await new DifyMetadataChatClient(inner, new DifyMetadataOptions { AppIdFromBaggage = true }).GetResponseAsync("hi");

        Assert.Equal("edge app, \"quoted\"", inner.LastResponses.Metadata["dify_app_id"]);
    }
}
