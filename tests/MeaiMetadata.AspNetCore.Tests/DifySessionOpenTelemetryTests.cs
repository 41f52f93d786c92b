using MeaiMetadata.AspNetCore.Tests.TestDoubles;
using MeaiMetadata.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using OpenTelemetry.Trace;
using static MeaiMetadata.AspNetCore.Tests.DifyBaggageTrustOpenTelemetryTests;

namespace MeaiMetadata.AspNetCore.Tests;

/// <summary>
/// <c>UseDifySession</c> and <c>WithDifySession</c> with OpenTelemetry's ASP.NET Core and HttpClient instrumentation and its
/// default propagator, which rewrites the <c>baggage</c> header below every handler from OpenTelemetry's <c>Baggage.Current</c>:
/// in a session with <c>PropagateAsBaggage</c>, a client with <c>DifyBaggageHandler</c> still sends the session's app id
/// (the handler puts it in <c>Baggage.Current</c> for its own send), a client without it does not, and the session itself
/// leaves <c>Baggage.Current</c> alone.
/// The edge's app id comes from the query string here (<c>?app=</c>): a test stand-in for an authenticated claim.
/// </summary>
[Collection(OpenTelemetryTests.Name)]
public sealed class DifySessionOpenTelemetryTests
{
    public static TheoryData<string, string> CallerBaggage => new()
    {
        // What the caller sends, and the members the backend must receive besides the edge's dify.app_id.
        { "", "" },
        { "tenant.region=eu", "|tenant.region=eu" },
        { "tenant.region=eu,dify.app_id=victim", "|tenant.region=eu" },
        { "%64ify.app_id=victim, tenant.region=eu", "|tenant.region=eu" },
    };

    private static string AppId(HttpContext c) => c.Request.Query["app"].ToString();

    /// <summary>An edge that trusts no caller's baggage and runs each request in a propagating session for <c>?app=</c>.</summary>
    private static Task<TestApp> StartPropagatingEdgeAsync(Func<Task<string>> endpoint) =>
        TestApp.StartAsync(a =>
        {
            a.UseDifyBaggageTrust(_ => false);
            a.UseDifySession(o => { o.AppId = AppId; o.PropagateAsBaggage = true; });
            a.MapGet("/", endpoint);
        });

    private static async Task<string> SendAsync(TestApp app, string baggage, string path = "?app=edge-app")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (baggage.Length > 0)
        {
            request.Headers.Add("baggage", baggage);
        }

        using HttpResponseMessage response = await app.Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("tenant.region=eu", true)]
    [InlineData("tenant.region=eu", false)]
    public async Task SessionOpenedInCode_InsideTheRequest_ItsCallsCarryItsApp_ThenTheRequestsAgain(string sent, bool requestSession)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.UseDifyBaggageTrust(_ => false);
            if (requestSession)
            {
                a.UseDifySession(o => { o.AppId = AppId; o.PropagateAsBaggage = true; });
            }

            a.MapGet("/", async () =>
            {
                using var http = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
                string inner, alongside, other;
                using (DifySession.Begin("tool-app", propagateAsBaggage: true))
                {
                    inner = await http.GetStringAsync(backend.Address);

                    // Two sessions at once in one request: each call carries its own.
                    Task<string> otherCall = Task.Run(async () =>
                    {
                        using (DifySession.Begin("other-tool", propagateAsBaggage: true))
                        {
                            return await http.GetStringAsync(backend.Address);
                        }
                    });
                    alongside = await http.GetStringAsync(backend.Address);
                    other = await otherCall;
                }

                string after = await http.GetStringAsync(backend.Address);
                return string.Join(" / ", new[] { inner, alongside, other, after }.Select(h => h.Split(',')[0]));
            });
        });

        string after = requestSession ? "dify.app_id=edge-app" : sent.Length == 0 ? "" : sent;
        Assert.Equal($"dify.app_id=tool-app / dify.app_id=tool-app / dify.app_id=other-tool / {after}", await SendAsync(edge, sent));
    }

    [Theory]
    [InlineData("DIFY.APP_ID=victim,tenant=eu", "dify.app_id=edge-app|DIFY.APP_ID=victim|tenant=eu")]
    [InlineData("Tenant=x,tenant=y,z=1", "dify.app_id=edge-app|Tenant=x|tenant=y|z=1")]
    public async Task PropagatingSession_KeysThatDifferInCase_StayOtherMembers_NeverTheAppId(string sent, string viaHandler)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await StartPropagatingEdgeAsync(async () =>
        {
            using var withHandler = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
            using var plain = new HttpClient();
            string inOrder = string.Join("|", (await withHandler.GetStringAsync(backend.Address)).Split(',', StringSplitOptions.TrimEntries));
            return inOrder + " " + Members(await plain.GetStringAsync(backend.Address));
        });

        // The client without the handler sends the caller's members only: the session's app id is not in them.
        Assert.Equal(viaHandler + " " + Members(sent), await SendAsync(edge, sent));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SyncSend_CarriesTheAppId_AlsoWithTheFlowSuppressed_ThenTheFlowHasTheRequestsBaggageBack(bool suppressFlow)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.Use(async (context, next) =>
            {
                await next(context);
                await context.Response.WriteAsync(" after=" + OpenTelemetryBaggage());
            });
            a.UseDifySession(o => { o.AppId = AppId; o.PropagateAsBaggage = true; });
            a.MapGet("/", () =>
            {
                using var http = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
                string sent;
                AsyncFlowControl? suppressed = suppressFlow ? ExecutionContext.SuppressFlow() : null;
                try
                {
                    using HttpResponseMessage response = http.Send(new HttpRequestMessage(HttpMethod.Get, backend.Address));
                    sent = Members(response.Content.ReadAsStringAsync().Result);
                }
                finally
                {
                    suppressed?.Undo();
                }

                // The send's own baggage is gone: this flow is back on the request's holder, which the middleware reads.
                OpenTelemetry.Baggage.SetBaggage("set.after", "1");
                return sent + " in=" + OpenTelemetryBaggage();
            });
        });

        Assert.Equal("dify.app_id=edge-app|tenant=eu in=set.after=1|tenant=eu after=set.after=1|tenant=eu", await SendAsync(edge, "tenant=eu"));
    }

    [Theory]
    [InlineData(200, 4)]   // more members than OpenTelemetry's propagator writes (180)
    [InlineData(101, 80)]  // more bytes than it writes (8,192)
    public async Task UseDifySession_PropagateAsBaggage_CallersLongBaggage_NeverPushesTheAppIdOut(int members, int valueLength)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await StartPropagatingEdgeAsync(async () =>
        {
            using var http = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
            return await http.GetStringAsync(backend.Address);
        });
        string sent = string.Join(",", Enumerable.Range(0, members).Select(i => $"k{i}={new string('v', valueLength)}"));

        string received = await SendAsync(edge, sent);

        Assert.StartsWith("dify.app_id=edge-app,", received, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(CallerBaggage))]
    public async Task UseDifySession_PropagateAsBaggage_RewrittenHeader_TheHandlersClientCarriesTheSessionsAppId_APlainOneDoesNot(string sent, string others)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await StartPropagatingEdgeAsync(async () =>
        {
            using var withHandler = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
            using var plain = new HttpClient();
            return Members(await withHandler.GetStringAsync(backend.Address)) + " " + Members(await plain.GetStringAsync(backend.Address));
        });

        // A client without the handler sends what OpenTelemetry's instrumentation writes from Baggage.Current: the caller's
        // other members, never the session's app id.
        Assert.Equal("dify.app_id=edge-app" + others + " " + others.TrimStart('|'), await SendAsync(edge, sent));
    }

    [Theory]
    [MemberData(nameof(CallerBaggage))]
    public async Task WithDifySession_PropagateAsBaggage_RewrittenHeader_TheHandlersClientsCarryTheSessionsAppId_InTheHandlerAndWhileTheResultIsWritten(string sent, string others)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.UseDifyBaggageTrust(_ => false);
            a.MapGet("/", async () =>
            {
                using var http = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
                string inHandler = Members(await http.GetStringAsync(backend.Address));

                // Written after the handler returned: still inside the endpoint's session.
                return Results.Stream(async body =>
                {
                    using var later = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
                    using var plain = new HttpClient();
                    string whileWriting = Members(await later.GetStringAsync(backend.Address)) + " " + Members(await plain.GetStringAsync(backend.Address));
                    await body.WriteAsync(System.Text.Encoding.UTF8.GetBytes(inHandler + " " + whileWriting));
                });
            }).WithDifySession(o => { o.AppId = AppId; o.PropagateAsBaggage = true; });
        });

        string expected = "dify.app_id=edge-app" + others;
        Assert.Equal(expected + " " + expected + " " + others.TrimStart('|'), await SendAsync(edge, sent));
    }

    [Theory]
    [InlineData("tenant.region=eu")]
    [InlineData("")]
    public async Task UseDifySession_PropagateAsBaggage_OpenTelemetryBaggageUntouched_InTheSessionAndAfter(string sent)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.Use(async (context, next) =>
            {
                await next(context);

                // The request's baggage holder, seen after the session's middleware returned.
                await context.Response.WriteAsync(" after=" + OpenTelemetryBaggage());
            });
            a.UseDifySession(o => { o.AppId = AppId; o.PropagateAsBaggage = true; });
            a.MapGet("/", () => "in=" + OpenTelemetryBaggage());
        });

        // Baggage.Current is shared by every flow of the request: the session never puts its app id there.
        Assert.Equal($"in={sent} after={sent}", await SendAsync(edge, sent));
    }

    [Theory]
    [InlineData("tenant.region=eu", false)]
    [InlineData("", false)]
    [InlineData("tenant.region=eu", true)]
    [InlineData("", true)]
    public async Task PropagateAsBaggage_SessionEnded_WorkThatCapturedItSendsNoAppId_ThroughTheHandlersClient(string sent, bool endpointConvention)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<string>? background = null;
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.Use(async (context, next) =>
            {
                await next(context);
                ended.SetResult(); // the session (middleware or endpoint convention) has ended by now
            });
            if (!endpointConvention)
            {
                a.UseDifySession(o => { o.AppId = AppId; o.PropagateAsBaggage = true; });
            }

            RouteHandlerBuilder endpoint = a.MapGet("/", async () =>
            {
                using var http = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
                string inHandler = Members(await http.GetStringAsync(backend.Address));

                // Work that captured the handler's flow, and so the session, and calls out after the request ended.
                background = Task.Run(async () =>
                {
                    await ended.Task;
                    using var later = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
                    return Members(await later.GetStringAsync(backend.Address));
                });
                return inHandler;
            });
            if (endpointConvention)
            {
                endpoint.WithDifySession(o => { o.AppId = AppId; o.PropagateAsBaggage = true; });
            }
        });

        string answer = await SendAsync(edge, sent);

        Assert.Equal(string.Join("|", new[] { "dify.app_id=edge-app", sent }.Where(m => m.Length > 0).Order(StringComparer.Ordinal)), answer);
        Assert.Equal(sent, await background!);
    }

    [Theory]
    [InlineData("tenant.region=eu,dify.app_id=victim")]
    [InlineData("tenant.region=eu")]
    public async Task WithoutPropagateAsBaggage_OpenTelemetryBaggageUntouched(string sent)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.UseDifySession(AppId);
            a.MapGet("/", async () =>
            {
                string seen = OpenTelemetryBaggage();
                using var http = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
                return seen + " sent=" + Members(await http.GetStringAsync(backend.Address)) + " session=" + DifySession.Current?.AppId;
            });
            a.MapGet("/filter", () => OpenTelemetryBaggage()).WithDifySession(AppId);
        });

        // No trust middleware here: what the caller sent is what OpenTelemetry keeps, and sends on, unchanged.
        string members = Members(sent);
        Assert.Equal($"{members} sent={members} session=edge-app", await SendAsync(edge, sent));
        Assert.Equal(members, await SendAsync(edge, sent, "filter?app=edge-app"));
    }
}
