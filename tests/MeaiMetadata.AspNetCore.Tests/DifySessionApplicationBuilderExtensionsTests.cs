using Microsoft.AspNetCore.Authentication;
using MeaiMetadata.AspNetCore.Tests.TestDoubles;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata.AspNetCore.Tests;

public sealed class DifySessionApplicationBuilderExtensionsTests
{
    private const string Category = "MeaiMetadata.AspNetCore.DifySessionMiddleware";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    /// <summary>What the endpoint saw: the session's app id and whether it propagates, or "none".</summary>
    private static string Describe(DifySession? session) => session is null ? "none" : $"{session.AppId}|{session.PropagatesAsBaggage}";

    [Fact]
    public async Task UseDifySession_Lookup_EndpointRunsInsideThatSession()
    {
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.UseDifySession(_ => "support-bot");
            a.MapGet("/", () => Describe(DifySession.Current));
        });

        Assert.Equal("support-bot|False", await app.Client.GetStringAsync(""));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task UseDifySession_Options_PassPropagateAsBaggageToTheSession(bool propagate)
    {
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.UseDifySession(o =>
            {
                o.AppId = _ => "edge-app";
                o.PropagateAsBaggage = propagate;
            });
            a.MapGet("/", () => Describe(DifySession.Current));
        });

        Assert.Equal($"edge-app|{propagate}", await app.Client.GetStringAsync(""));
    }

    [Fact]
    public async Task UseDifySession_LlmCallsOfTheRequest_AreTaggedWithItsApp_StreamingOrNot()
    {
        var model = new RecordingChatClient();
        await using TestApp app = await TestApp.StartAsync(
            a =>
            {
                a.UseDifySession(c => c.Request.Query["app"]);
                a.MapGet("/", async (IChatClient chat) => (await chat.GetResponseAsync("hi")).Text);
                a.MapGet("/stream", (IChatClient chat) => chat.GetStreamingResponseAsync("hi").Select(u => u.Text));
            },
            b => b.Services.AddChatClient(model).UseDifyMetadata());

        Assert.Equal("ok", await app.Client.GetStringAsync("?app=support-bot"));
        Assert.Equal("[\"ok\"]", await app.Client.GetStringAsync("stream?app=sales"));
        Assert.Equal("ok", await app.Client.GetStringAsync(""));

        Assert.Equal(["support-bot", "sales", null], model.Metadata.Select(m => m?["dify_app_id"]));
    }

    [Fact]
    public async Task UseDifySession_RequestEnds_WorkThatCapturedTheFlowSeesTheSessionEnded()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var during = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var after = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pipelineDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.Use(async (context, next) =>
            {
                await next(context); // the session middleware inside has ended its session when this returns
                pipelineDone.SetResult();
            });
            a.UseDifySession(_ => "app-1");
            a.MapGet("/", async () =>
            {
                _ = Task.Run(async () =>
                {
                    during.SetResult(Describe(DifySession.Current));
                    await release.Task;
                    after.SetResult(Describe(DifySession.Current));
                });
                await during.Task;
                return "done";
            });
        });

        Assert.Equal("done", await app.Client.GetStringAsync(""));
        Assert.Equal("app-1|False", await during.Task.WaitAsync(s_timeout));
        await pipelineDone.Task.WaitAsync(s_timeout); // the response can reach the client before the session's scope is disposed
        release.SetResult();
        Assert.Equal("none", await after.Task.WaitAsync(s_timeout));
    }

    [Fact]
    public async Task UseDifySession_PipelineThrows_SessionEndsAndTheErrorIsTheServers()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var after = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.UseDifySession(_ => "app-1");
            a.MapGet("/", string () =>
            {
                _ = Task.Run(async () =>
                {
                    await release.Task;
                    after.SetResult(Describe(DifySession.Current));
                });
                throw new InvalidOperationException("the endpoint fails");
            });
        });

        using HttpResponseMessage response = await app.Client.GetAsync("");
        Assert.Equal(500, (int)response.StatusCode);
        release.SetResult();
        Assert.Equal("none", await after.Task.WaitAsync(s_timeout));
    }

    [Fact]
    public async Task UseDifySession_RequestAborted_SessionEndsWhenThePipelineReturns()
    {
        var started = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var after = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pipelineReturned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.Use(async (context, next) =>
            {
                try
                {
                    await next(context);
                }
                finally
                {
                    pipelineReturned.TrySetResult();
                }
            });
            a.UseDifySession(_ => "app-1");
            a.MapGet("/", async (HttpContext context) =>
            {
                _ = Task.Run(async () =>
                {
                    await release.Task;
                    after.SetResult(Describe(DifySession.Current));
                });
                started.SetResult(Describe(DifySession.Current));
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            });
        });

        using var cancel = new CancellationTokenSource();
        Task<HttpResponseMessage> request = app.Client.GetAsync("", cancel.Token);
        Assert.Equal("app-1|False", await started.Task.WaitAsync(s_timeout));
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        await pipelineReturned.Task.WaitAsync(s_timeout);
        release.SetResult();
        Assert.Equal("none", await after.Task.WaitAsync(s_timeout));
    }

    public static TheoryData<string, string> NoAppIdCases => new()
    {
        { "null", "the app id lookup returned null" },
        { "empty", "the app id lookup returned an empty app id" },
        { "blank", "the app id lookup returned only white space" },
        { "throws", "the app id lookup threw" },
    };

    [Theory]
    [MemberData(nameof(NoAppIdCases))]
    public async Task UseDifySession_NoAppId_RequestAnsweredAsWithoutTheMiddleware_OneDebugLogSaysWhy(string lookup, string reason)
    {
        Func<HttpContext, string?> appId = lookup switch
        {
            "null" => _ => null,
            "empty" => _ => string.Empty,
            "blank" => _ => " \t ",
            _ => _ => throw new InvalidOperationException("lookup failed"),
        };
        static void Endpoints(WebApplication a) => a.MapPost("/items", (HttpContext c) =>
            Results.Text($"{Describe(DifySession.Current)} {c.Request.Query["q"]}", "text/x-test", statusCode: 201));

        await using TestApp without = await TestApp.StartAsync(Endpoints);
        await using TestApp with = await TestApp.StartAsync(a =>
        {
            a.UseDifySession(appId);
            Endpoints(a);
        });

        using HttpResponseMessage expected = await without.Client.PostAsync("items?q=1", null);
        using HttpResponseMessage actual = await with.Client.PostAsync("items?q=1", null);

        Assert.Equal(201, (int)actual.StatusCode);
        Assert.Equal(expected.StatusCode, actual.StatusCode);
        Assert.Equal(expected.Content.Headers.ContentType, actual.Content.Headers.ContentType);
        Assert.Equal("none 1", await actual.Content.ReadAsStringAsync());
        Assert.Equal(await expected.Content.ReadAsStringAsync(), await actual.Content.ReadAsStringAsync());

        Microsoft.Extensions.Logging.Testing.FakeLogRecord log = Assert.Single(with.LogsOf(Category, LogLevel.Debug));
        Assert.Contains(reason, log.Message, StringComparison.Ordinal);
        Assert.Equal(lookup == "throws", log.Exception is InvalidOperationException);
        Assert.DoesNotContain(with.Logs.GetSnapshot(), r => r.Category == Category && r.Level > LogLevel.Debug);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task UseDifySession_BeforeUseAuthentication_OneWarningNamingTheOrder(bool beforeAuthentication)
    {
        static void Endpoints(WebApplication a) => a.MapGet("/who", () => Describe(DifySession.Current));
        await using TestApp app = await TestApp.StartAsync(
            a =>
            {
                if (beforeAuthentication)
                {
                    a.UseDifySession(DifyAppIdSources.Claim("app"));
                    a.UseAuthentication();
                }
                else
                {
                    a.UseAuthentication();
                    a.UseDifySession(DifyAppIdSources.Claim("app"));
                }

                Endpoints(a);
            },
            b => b.Services.AddAuthentication(TestAuthenticationHandler.Name).AddScheme<AuthenticationSchemeOptions, TestAuthenticationHandler>(TestAuthenticationHandler.Name, null));

        string[] seen = new string[2];
        for (int i = 0; i < seen.Length; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "who");
            request.Headers.Add("X-Test-User", "app=billing");
            using HttpResponseMessage response = await app.Client.SendAsync(request);
            seen[i] = await response.Content.ReadAsStringAsync();
        }

        var warnings = app.Logs.GetSnapshot().Where(r => r.Category == Category && r.Level == LogLevel.Warning).ToList();
        if (beforeAuthentication)
        {
            Assert.All(seen, s => Assert.Equal("none", s)); // the user was anonymous when the app id was looked up
            Assert.Contains("UseAuthentication", Assert.Single(warnings).Message, StringComparison.Ordinal);
        }
        else
        {
            Assert.All(seen, s => Assert.Contains("billing", s, StringComparison.Ordinal));
            Assert.Empty(warnings);
        }
    }

    [Fact]
    public async Task UseDifySession_ParallelRequests_EachSeesOnlyItsOwnSession()
    {
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.UseRouting();
            a.UseDifySession(DifyAppIdSources.RouteValue("app"));
            a.MapGet("/apps/{app}", async (string app) =>
            {
                var seen = new List<string?>();
                for (int i = 0; i < 5; i++)
                {
                    seen.Add(DifySession.Current?.AppId);
                    await Task.Delay(Random.Shared.Next(0, 3));
                    seen.Add(await Task.Run(() => DifySession.Current?.AppId));
                }

                return seen.All(s => s == app) ? app : "mixed: " + string.Join(",", seen);
            });
        });

        string[] ids = [.. Enumerable.Range(0, 200).Select(i => $"app-{i}")];
        string[] answers = await Task.WhenAll(ids.Select(id => app.Client.GetStringAsync($"apps/{id}")));

        Assert.Equal(ids, answers);
    }

    [Fact]
    public async Task UseDifySession_AfterTheRequest_TheServersFlowHasNoSession()
    {
        // Two requests on one keep-alive connection: the second, without an app id, must not see the first's session.
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.UseDifySession(c => c.Request.Query["app"]);
            a.MapGet("/", () => Describe(DifySession.Current));
        });

        Assert.Equal("first|False", await app.Client.GetStringAsync("?app=first"));
        Assert.Equal("none", await app.Client.GetStringAsync(""));
    }

    [Fact]
    public void UseDifySession_OptionsWithoutAppId_Throws()
    {
        var app = new ApplicationBuilder(new ServiceCollection().BuildServiceProvider());

        ArgumentException error = Assert.Throws<ArgumentException>(() => app.UseDifySession(o => o.PropagateAsBaggage = true));
        Assert.Equal("configure", error.ParamName);
        Assert.Throws<ArgumentNullException>(() => app.UseDifySession((Func<HttpContext, string?>)null!));
        Assert.Throws<ArgumentNullException>(() => app.UseDifySession((Action<DifySessionOptions>)null!));
        Assert.Throws<ArgumentNullException>(() => ((IApplicationBuilder)null!).UseDifySession(_ => "x"));
    }
}
