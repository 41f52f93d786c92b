using System.Diagnostics;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace MeaiMetadata.IntegrationTests.Http;

/// <summary>
/// A propagating session at the edge, a backend on real Kestrel that calls the strict fake OpenAI through
/// <c>UseDifyMetadata()</c> and reads the app id from incoming baggage, and the OpenTelemetry SDK's default sampler: the
/// session never changes which spans are created, sampled or parented, and the HTTP client setups the README lists carry
/// the app id. Alone (serial): the SDK and the listeners see the whole process.
/// </summary>
[Collection(SerialTests.Name)]
public sealed class SessionPropagationTests : IAsyncLifetime
{
    private static readonly ActivitySource s_app = new("MeaiMetadata.Tests.App");
    private FakeOpenAIServer _openAI = null!;
    private BackendService _backend = null!;

    public async Task InitializeAsync()
    {
        _openAI = await FakeOpenAIServer.StartAsync();
        _backend = await BackendService.StartAsync(_openAI);
    }

    public async Task DisposeAsync()
    {
        await _backend.DisposeAsync();
        await _openAI.DisposeAsync();
    }

    public static TheoryData<string> CarryingSetups => ["factory client with AddDifyBaggage()", "ConfigureHttpClientDefaults(b => b.AddDifyBaggage())", "new HttpClient(new DifyBaggageHandler(...))"];

    private static HttpClient Client(string setup, ServiceProvider services) => setup switch
    {
        "factory client with AddDifyBaggage()" => services.GetRequiredService<IHttpClientFactory>().CreateClient("backend"),
        "ConfigureHttpClientDefaults(b => b.AddDifyBaggage())" => services.GetRequiredService<IHttpClientFactory>().CreateClient("any"),
        "new HttpClient(new DifyBaggageHandler(...))" => new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler())),
        _ => new HttpClient(),
    };

    private static ServiceProvider Services(string setup)
    {
        var services = new ServiceCollection();
        if (setup.StartsWith("Configure", StringComparison.Ordinal))
        {
            services.ConfigureHttpClientDefaults(b => b.AddDifyBaggage());
        }
        else
        {
            services.AddHttpClient("backend").AddDifyBaggage();
        }

        return services.BuildServiceProvider();
    }

    [Theory]
    [MemberData(nameof(CarryingSetups))]
    public async Task PropagatingSession_EachCarryingSetup_TheBackendTagsItsOwnLlmCallWithTheEdgeApp(string setup)
    {
        string[] ids = ["edge-app", "Ünïcode app, \"quoted\"; with=signs", "line\r\nbreak\u0000nul", new string('x', 600)];
        await using ServiceProvider services = Services(setup);
        foreach (string id in ids)
        {
            _openAI.Clear();
            using HttpClient http = Client(setup, services);
            using (DifySession.Begin(id, propagateAsBaggage: true))
            {
                using HttpResponseMessage response = await http.PostAsync(_backend.Address, null);
                Assert.Equal("ok", await response.Content.ReadAsStringAsync());
            }

            RecordedRequest llm = Assert.Single(_openAI.Requests);
            Assert.Equal(200, llm.StatusCode);
            Assert.Equal(id.Length > 512 ? id[..512] : id, llm.Metadata!["dify_app_id"]);
        }
    }

    [Fact]
    public async Task NoActivity_PropagatingSession_OnlyTheClientWithAddDifyBaggageSendsTheAppId()
    {
        // Without the handler only the platform's propagator writes baggage: Activity.Baggage, and only when an Activity is
        // current. A worker or console flow has none, and a session sets none (it would reach every flow under the Activity).
        Assert.Null(Activity.Current);
        await using ServiceProvider services = Services("factory client with AddDifyBaggage()");
        using var plain = new HttpClient();
        using HttpClient carrying = Client("factory client with AddDifyBaggage()", services);

        using (DifySession.Begin("edge-app", propagateAsBaggage: true))
        {
            using HttpResponseMessage fromPlain = await plain.PostAsync(_backend.Address, null);
            fromPlain.EnsureSuccessStatusCode();
            Assert.Null(_backend.Seen[^1].Baggage);

            using HttpResponseMessage fromCarrying = await carrying.PostAsync(_backend.Address, null);
            fromCarrying.EnsureSuccessStatusCode();
            Assert.Equal("dify.app_id=edge-app", _backend.Seen[^1].Baggage);
        }

        Assert.Equal(new string?[] { null, "edge-app" }, _openAI.Requests.Select(r => r.Metadata?["dify_app_id"]));
    }

    [Fact]
    public async Task CallerBaggageAndActivityBaggage_AreKept_TheSessionDecidesTheApp()
    {
        using var http = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
        using var activity = new Activity("edge request").AddBaggage("tenant.region", "eu").AddBaggage("dify.app_id", "upstream-app").Start();

        using (DifySession.Begin("edge-app", propagateAsBaggage: true))
        {
            (await http.PostAsync(_backend.Address, null)).EnsureSuccessStatusCode();

            using var request = new HttpRequestMessage(HttpMethod.Post, _backend.Address);
            request.Headers.Add("baggage", "caller.item=1, dify.app_id=forged");
            (await http.SendAsync(request)).EnsureSuccessStatusCode();
        }

        Assert.All(_openAI.Requests, r => Assert.Equal("edge-app", r.Metadata!["dify_app_id"]));
        Assert.Equal("dify.app_id=edge-app,tenant.region=eu", _backend.Seen[^2].Baggage);
        Assert.Equal("dify.app_id=edge-app,caller.item=1", _backend.Seen[^1].Baggage);
    }

    [Fact]
    public async Task PropagatingSession_SpansAreCreatedSampledAndParentedAsWithoutIt()
    {
        var exported = new List<Activity>();
        using TracerProvider tracing = Sdk.CreateTracerProviderBuilder() // the SDK's default sampler: ParentBased(AlwaysOn)
            .AddSource(s_app.Name)
            .AddInMemoryExporter(exported)
            .Build()!;
        using var http = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
        var httpSpans = new List<Activity>(); // the HTTP client's spans: this call's, the backend's to the model, other tests'
        using var httpListener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "System.Net.Http",
            Sample = (ref ActivityCreationOptions<ActivityContext> o) =>
                o.Parent.TraceFlags.HasFlag(ActivityTraceFlags.Recorded) ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.PropagationData,
            ActivityStarted = a => { lock (httpSpans) { httpSpans.Add(a); } },
        };
        ActivitySource.AddActivityListener(httpListener);
        List<Activity> HttpSpansOf(ActivityTraceId trace) { lock (httpSpans) { return [.. httpSpans.Where(a => a.TraceId == trace)]; } }

        // A root span started inside the session: created, recorded, a root.
        using (DifySession.Begin("edge-app", propagateAsBaggage: true))
        {
            using Activity? work = s_app.StartActivity("work");
            Assert.NotNull(work);
            Assert.True(work.Recorded);
            Assert.Equal(default, work.ParentSpanId);

            // The outgoing call carries the app span's trace, parented under the app's span, sampled, and the app id.
            // traceparent is version-traceid-parentid-flags. Only the sampled bit is this test's (its sampler decides it); the
            // other bits are the runtime's (.NET 11's DiagnosticSource also sets 0x02, random trace id: "-03"). The parent is
            // the HTTP client's span, which the runtime makes under the current span whenever anything listens to
            // System.Net.Http: the listener above makes that always so, deciding as the test's sampler does (parent-based).
            (await http.PostAsync(_backend.Address, null)).EnsureSuccessStatusCode();
            string[] traceParent = _backend.Seen[^1].TraceParent!.Split('-');
            Assert.Equal(4, traceParent.Length);
            Assert.Equal(work.TraceId.ToHexString(), traceParent[1]);
            Activity httpSpan = Assert.Single(HttpSpansOf(work.TraceId), a => a.SpanId.ToHexString() == traceParent[2]);
            Assert.Equal(work.SpanId, httpSpan.ParentSpanId);
            Assert.Equal(ActivityTraceFlags.Recorded, (ActivityTraceFlags)Convert.ToByte(traceParent[3], 16) & ActivityTraceFlags.Recorded);
        }

        // Inside an application request span: the child's parent is that span, which is exported (no orphan).
        Activity request = s_app.StartActivity("request")!;
        Activity? child;
        using (DifySession.Begin("edge-app", propagateAsBaggage: true))
        {
            child = s_app.StartActivity("child");
            child!.Dispose();
        }

        request.Dispose();
        tracing.ForceFlush();
        Assert.Equal(request.SpanId, child.ParentSpanId);
        Assert.Contains(exported, a => a.SpanId == request.SpanId);
        Assert.Contains(exported, a => a.SpanId == child.SpanId);
        Assert.All(exported, a => Assert.True(a.ParentSpanId == default || exported.Any(p => p.SpanId == a.ParentSpanId), $"{a.DisplayName} has an unexported parent"));
        Assert.Equal("edge-app", Assert.Single(_openAI.Requests).Metadata!["dify_app_id"]);
    }
}
