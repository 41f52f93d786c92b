using MeaiMetadata.AspNetCore.Tests.TestDoubles;
using MeaiMetadata.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using OpenTelemetry.Trace;
using static MeaiMetadata.AspNetCore.Tests.DifyBaggageTrustOpenTelemetryTests;

namespace MeaiMetadata.AspNetCore.Tests;

/// <summary>
/// <c>UseDifySession</c> and <c>WithDifySession</c> with OpenTelemetry's ASP.NET Core and HttpClient instrumentation and its
/// default propagator: a session with <c>PropagateAsBaggage</c> puts its app id in OpenTelemetry's <c>Baggage.Current</c>,
/// so the header the HttpClient instrumentation rewrites still carries it; one without leaves <c>Baggage.Current</c> alone.
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
    public async Task PropagatingSession_KeysThatDifferInCase_StayOtherMembers_NeverTheAppId(string sent, string expected)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await StartPropagatingEdgeAsync(async () =>
        {
            using var withHandler = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
            using var plain = new HttpClient();
            string viaHandler = await withHandler.GetStringAsync(backend.Address);
            string viaPlain = await plain.GetStringAsync(backend.Address);
            return string.Join(" ", new[] { viaHandler, viaPlain }.Select(h => string.Join("|", h.Split(',', StringSplitOptions.TrimEntries))));
        });

        Assert.Equal(expected + " " + expected, await SendAsync(edge, sent));
    }

    [Fact]
    public async Task SyncSend_WithTheFlowSuppressed_StillSends()
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.UseDifySession(o => { o.AppId = AppId; o.PropagateAsBaggage = true; });
            a.MapGet("/", () =>
            {
                using var http = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
                using (ExecutionContext.SuppressFlow())
                {
                    using HttpResponseMessage response = http.Send(new HttpRequestMessage(HttpMethod.Get, backend.Address));
                    return response.Content.ReadAsStringAsync().Result.Split(',')[0];
                }
            });
        });

        Assert.Equal("dify.app_id=edge-app", await SendAsync(edge, "tenant=eu"));
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
    public async Task UseDifySession_PropagateAsBaggage_RewrittenHeaderCarriesTheSessionsAppId(string sent, string others)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        await using TestApp backend = await StartBackendAsync();
        await using TestApp edge = await StartPropagatingEdgeAsync(async () =>
        {
            using var withHandler = new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()));
            using var plain = new HttpClient();
            return Members(await withHandler.GetStringAsync(backend.Address)) + " " + Members(await plain.GetStringAsync(backend.Address));
        });

        // Also a client without the handler: OpenTelemetry's instrumentation writes Baggage.Current on every request.
        string expected = "dify.app_id=edge-app" + others;
        Assert.Equal(expected + " " + expected, await SendAsync(edge, sent));
    }

    [Theory]
    [MemberData(nameof(CallerBaggage))]
    public async Task WithDifySession_PropagateAsBaggage_RewrittenHeaderCarriesTheSessionsAppId_InTheHandlerAndWhileTheResultIsWritten(string sent, string others)
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
        Assert.Equal(expected + " " + expected + " " + expected, await SendAsync(edge, sent));
    }

    [Theory]
    [InlineData("tenant.region=eu", "tenant.region=eu")]
    [InlineData("", "")]
    public async Task UseDifySession_SessionEnded_PreviousBaggageCurrentRestored(string sent, string before)
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

        string inSession = string.Join("|", new[] { "dify.app_id=edge-app", before }.Where(s => s.Length > 0).Order(StringComparer.Ordinal));
        Assert.Equal($"in={inSession} after={before}", await SendAsync(edge, sent));
    }

    [Theory]
    [InlineData("tenant.region=eu")]
    [InlineData("")]
    public async Task WithDifySession_SessionEnded_WorkThatCapturedItSeesThePreviousBaggage(string sent)
    {
        using TracerProvider tracing = StartOpenTelemetry();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<string>? background = null;
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.MapGet("/", () =>
            {
                string inHandler = OpenTelemetryBaggage();

                // Work that captured the handler's flow and outlives the request.
                background = Task.Run(async () =>
                {
                    await release.Task;
                    return OpenTelemetryBaggage();
                });
                return new { inHandler };
            }).WithDifySession(o => { o.AppId = AppId; o.PropagateAsBaggage = true; });
        });

        string answer = await SendAsync(edge, sent);
        release.SetResult();

        string inSession = string.Join("|", new[] { "dify.app_id=edge-app", sent }.Where(s => s.Length > 0).Order(StringComparer.Ordinal));
        Assert.Equal($"{{\"inHandler\":\"{inSession}\"}}", answer);
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
