using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using MeaiMetadata.AspNetCore.Tests.TestDoubles;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata.AspNetCore.Tests;

public sealed class DifySessionEndpointConventionBuilderExtensionsTests
{
    private const string Category = "MeaiMetadata.AspNetCore.DifySessionMiddleware";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    private static string Describe(DifySession? session) => session is null ? "none" : $"{session.AppId}|{session.PropagatesAsBaggage}";

    /// <summary>Yields the current app id a few times, yielding the thread in between: what a model stream does.</summary>
    private static async IAsyncEnumerable<string> AppIdsWhileStreaming([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (int i = 0; i < 3; i++)
        {
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            yield return Describe(DifySession.Current);
        }
    }

    [Fact]
    public async Task WithDifySession_RouteHandler_RunsInsideTheSession_OtherEndpointsDoNot()
    {
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.MapGet("/covered", () => Describe(DifySession.Current)).WithDifySession(_ => "support-bot");
            a.MapGet("/other", () => Describe(DifySession.Current));
        });

        Assert.Equal("support-bot|False", await app.Client.GetStringAsync("covered"));
        Assert.Equal("none", await app.Client.GetStringAsync("other"));
    }

    [Fact]
    public async Task WithDifySession_HandlersThatWriteTheResponseThemselves_AreCoveredToo()
    {
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.MapGet("/request-delegate", (RequestDelegate)(c => c.Response.WriteAsync(Describe(DifySession.Current)))).WithDifySession(_ => "rd-app");
            a.MapGet("/http-context", (HttpContext c) => c.Response.WriteAsync(Describe(DifySession.Current))).WithDifySession(_ => "hc-app");
        });

        Assert.Equal("rd-app|False", await app.Client.GetStringAsync("request-delegate"));
        Assert.Equal("hc-app|False", await app.Client.GetStringAsync("http-context"));
    }

    [Fact]
    public async Task WithDifySession_RouteGroup_CoversEveryEndpointOfTheGroup_WithItsOptions()
    {
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            RouteGroupBuilder group = a.MapGroup("/apps/{app}").WithDifySession(o =>
            {
                o.AppId = DifyAppIdSources.RouteValue("app");
                o.PropagateAsBaggage = true;
            });
            group.MapGet("/a", () => Describe(DifySession.Current));
            group.MapPost("/b", () => Describe(DifySession.Current));
            a.MapGet("/outside", () => Describe(DifySession.Current));
        });

        Assert.Equal("one|True", await app.Client.GetStringAsync("apps/one/a"));
        using HttpResponseMessage b = await app.Client.PostAsync("apps/two/b", null);
        Assert.Equal("two|True", await b.Content.ReadAsStringAsync());
        Assert.Equal("none", await app.Client.GetStringAsync("outside"));
    }

    [Fact]
    public async Task WithDifySession_HandlerReturnsIAsyncEnumerable_TheStreamIsWrittenInsideTheSession()
    {
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.MapGet("/stream", () => AppIdsWhileStreaming()).WithDifySession(_ => "streamer");
            a.MapGet("/plain", () => AppIdsWhileStreaming());
        });

        using HttpResponseMessage response = await app.Client.GetAsync("stream");
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Equal(["streamer|False", "streamer|False", "streamer|False"], JsonSerializer.Deserialize<string[]>(await response.Content.ReadAsStringAsync())!);

        // Without the filter the same endpoint writes the same shape, outside any session.
        Assert.Equal(["none", "none", "none"], JsonSerializer.Deserialize<string[]>(await app.Client.GetStringAsync("plain"))!);
    }

    [Fact]
    public async Task WithDifySession_ServerSentEvents_EachEventIsProducedInsideTheSession()
    {
        await using TestApp app = await TestApp.StartAsync(a =>
            a.MapGet("/sse", () => TypedResults.ServerSentEvents(AppIdsWhileStreaming())).WithDifySession(_ => "sse-app"));

        using HttpResponseMessage response = await app.Client.GetAsync("sse", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var data = new List<string>();
        await foreach (SseItem<string> item in SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync())
        {
            data.Add(item.Data);
        }

        Assert.Equal(["sse-app|False", "sse-app|False", "sse-app|False"], data);
    }

    [Fact]
    public async Task WithDifySession_CustomResultThatCallsTheModelWhileWriting_TheCallIsTagged()
    {
        var model = new RecordingChatClient();
        await using TestApp app = await TestApp.StartAsync(
            a => a.MapPost("/chat", (IChatClient chat) => new ChatStreamResult(chat)).WithDifySession(_ => "writer-app"),
            b => b.Services.AddChatClient(model).UseDifyMetadata());

        using HttpResponseMessage response = await app.Client.PostAsync("chat", null);
        Assert.Equal("ok|writer-app|False", await response.Content.ReadAsStringAsync());
        IReadOnlyDictionary<string, string>? metadata = Assert.Single(model.Metadata);
        Assert.NotNull(metadata);
        Assert.Equal("writer-app", metadata["dify_app_id"]);
    }

    [Fact]
    public async Task WithDifySession_StatusCodeAndHeadersOfTheResult_AreKept()
    {
        await using TestApp app = await TestApp.StartAsync(a =>
            a.MapPost("/items", () => TypedResults.Created("/items/7", new Item(7, Describe(DifySession.Current)))).WithDifySession(_ => "app"));

        using HttpResponseMessage response = await app.Client.PostAsync("items", null);
        Assert.Equal(201, (int)response.StatusCode);
        Assert.Equal("/items/7", response.Headers.Location?.OriginalString);
        Assert.Equal("{\"id\":7,\"session\":\"app|False\"}", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("object")]
    [InlineData("string")]
    [InlineData("null")]
    [InlineData("number")]
    public async Task WithDifySession_PlainValues_AreWrittenAsWithoutTheFilter(string kind)
    {
        Delegate handler = kind switch
        {
            "object" => () => (object)new Item(1, "x"),
            "string" => () => "text",
            "null" => () => (object?)null,
            _ => () => 42,
        };
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.MapGet("/with", handler).WithDifySession(_ => "app");
            a.MapGet("/without", handler).AddEndpointFilter((c, next) => next(c)); // any filter: the handler's value as object
        });

        using HttpResponseMessage expected = await app.Client.GetAsync("without");
        using HttpResponseMessage actual = await app.Client.GetAsync("with");
        Assert.Equal(expected.StatusCode, actual.StatusCode);
        Assert.Equal(expected.Content.Headers.ContentType, actual.Content.Headers.ContentType);
        Assert.Equal(await expected.Content.ReadAsStringAsync(), await actual.Content.ReadAsStringAsync());
    }

    public static TheoryData<string> DeclaredShapes => ["polymorphic", "source-generated list as IEnumerable", "source-generated async iterator"];

    [Theory]
    [MemberData(nameof(DeclaredShapes))]
    public async Task WithDifySession_ResultsOfDeclaredTypes_AreWrittenExactlyAsWithout(string shape)
    {
        bool sourceGenerated = shape != "polymorphic";
        string? seen = null;
        Delegate handler = shape switch
        {
            "polymorphic" => Animal () => new Dog { Name = "rex", Barks = true },
            "source-generated list as IEnumerable" => IEnumerable<Todo> () => new List<Todo> { new(1, "a"), new(2, "b") },
            _ => IAsyncEnumerable<Todo> () => Todos(s => seen = s),
        };
        await using TestApp app = await TestApp.StartAsync(
            a =>
            {
                a.MapGet("/with", handler).WithDifySession(_ => "app");
                a.MapGet("/without", handler);
            },
            b =>
            {
                if (sourceGenerated)
                {
                    b.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolver = TodoJsonContext.Default);
                }
            });

        using HttpResponseMessage expected = await app.Client.GetAsync("without");
        using HttpResponseMessage actual = await app.Client.GetAsync("with");
        Assert.Equal(200, (int)expected.StatusCode);
        Assert.Equal(expected.StatusCode, actual.StatusCode);
        Assert.Equal(expected.Content.Headers.ContentType, actual.Content.Headers.ContentType);
        Assert.Equal(await expected.Content.ReadAsStringAsync(), await actual.Content.ReadAsStringAsync());
        if (shape == "polymorphic")
        {
            Assert.Contains("\"$type\":\"dog\"", await actual.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        else if (shape == "source-generated async iterator")
        {
            Assert.Equal("app|False", seen); // the last request, "with": enumerated while written, inside the session
        }

        static async IAsyncEnumerable<Todo> Todos(Action<string> saw)
        {
            await Task.Yield();
            saw(Describe(DifySession.Current));
            yield return new Todo(1, "a");
        }
    }

    [Fact]
    public async Task WithDifySession_OnMapControllers_ActionsRunInsideTheSession()
    {
        await using TestApp app = await TestApp.StartAsync(
            a => a.MapControllers().WithDifySession(_ => "mvc-app"),
            b => b.Services.AddControllers().AddApplicationPart(typeof(SessionController).Assembly));

        Assert.Equal("mvc-app", await app.Client.GetStringAsync("mvc"));
    }

    [Fact]
    public async Task WithDifySession_EndpointFiltersRunInsideTheSession()
    {
        string? inFilter = null;
        await using TestApp app = await TestApp.StartAsync(a =>
            a.MapGet("/", () => "ok")
                .AddEndpointFilter(async (c, next) =>
                {
                    inFilter = Describe(DifySession.Current);
                    return await next(c);
                })
                .WithDifySession(_ => "app"));

        Assert.Equal("ok", await app.Client.GetStringAsync(""));
        Assert.Equal("app|False", inFilter);
    }

    [Fact]
    public async Task WithDifySession_ResultWritten_WorkThatCapturedTheFlowSeesTheSessionEnded()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fromHandler = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var fromResult = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pipelineDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.Use(async (context, next) =>
            {
                await next(context); // the endpoint's session has ended when this returns
                pipelineDone.SetResult();
            });
            a.MapGet("/", () =>
            {
                _ = Task.Run(async () =>
                {
                    await release.Task;
                    fromHandler.SetResult(Describe(DifySession.Current));
                });
                return Results.Stream(async body =>
                {
                    _ = Task.Run(async () =>
                    {
                        await release.Task;
                        fromResult.SetResult(Describe(DifySession.Current));
                    });
                    await body.WriteAsync("x"u8.ToArray());
                });
            }).WithDifySession(_ => "app");
        });

        Assert.Equal("x", await app.Client.GetStringAsync(""));
        await pipelineDone.Task.WaitAsync(s_timeout); // the response can reach the client before the session's scope is disposed
        release.SetResult();
        Assert.Equal("none", await fromHandler.Task.WaitAsync(s_timeout));
        Assert.Equal("none", await fromResult.Task.WaitAsync(s_timeout));
    }

    [Fact]
    public async Task WithDifySession_HandlerOrResultThrows_SessionEnds()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var afterHandler = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var afterResult = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.MapGet("/handler", string () =>
            {
                _ = Task.Run(async () =>
                {
                    await release.Task;
                    afterHandler.SetResult(Describe(DifySession.Current));
                });
                throw new InvalidOperationException("handler fails");
            }).WithDifySession(_ => "app");
            a.MapGet("/result", () => Results.Stream((Func<Stream, Task>)(body =>
            {
                _ = Task.Run(async () =>
                {
                    await release.Task;
                    afterResult.SetResult(Describe(DifySession.Current));
                });
                throw new InvalidOperationException("result fails");
            }))).WithDifySession(_ => "app");
        });

        using HttpResponseMessage handler = await app.Client.GetAsync("handler");
        Assert.Equal(500, (int)handler.StatusCode);
        await Assert.ThrowsAnyAsync<Exception>(async () => (await app.Client.GetAsync("result")).EnsureSuccessStatusCode());
        release.SetResult();
        Assert.Equal("none", await afterHandler.Task.WaitAsync(s_timeout));
        Assert.Equal("none", await afterResult.Task.WaitAsync(s_timeout));
    }

    [Fact]
    public async Task WithDifySession_OuterFilterDiscardsTheResult_SessionStillEndsWithTheRequest()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var after = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestApp app = await TestApp.StartAsync(a =>
            a.MapGet("/", () =>
            {
                _ = Task.Run(async () =>
                {
                    await release.Task;
                    after.SetResult(Describe(DifySession.Current));
                });
                return Results.Ok();
            })
            .AddEndpointFilter(async (c, next) => { _ = await next(c); return "replaced"; }) // outer: registered first
            .WithDifySession(_ => "app"));

        Assert.Equal("replaced", await app.Client.GetStringAsync(""));
        release.SetResult();
        Assert.Equal("none", await after.Task.WaitAsync(s_timeout));
    }

    [Fact]
    public async Task WithDifySession_ParallelStreamingRequests_EachSeesOnlyItsOwnSession()
    {
        await using TestApp app = await TestApp.StartAsync(a =>
            a.MapGet("/apps/{app}", () => AppIdsWhileStreaming()).WithDifySession(DifyAppIdSources.RouteValue("app")));

        string[] ids = [.. Enumerable.Range(0, 100).Select(i => $"app-{i}")];
        string[][] answers = await Task.WhenAll(ids.Select(async id => JsonSerializer.Deserialize<string[]>(await app.Client.GetStringAsync($"apps/{id}"))!));

        for (int i = 0; i < ids.Length; i++)
        {
            Assert.All(answers[i], seen => Assert.Equal($"{ids[i]}|False", seen));
        }
    }

    public static TheoryData<string, string> NoAppIdCases => new()
    {
        { "null", "the app id lookup returned null" },
        { "empty", "the app id lookup returned an empty app id" },
        { "throws", "the app id lookup threw" },
    };

    [Theory]
    [MemberData(nameof(NoAppIdCases))]
    public async Task WithDifySession_NoAppId_HandlerAnsweredAsWithoutTheFilter_OneDebugLogSaysWhy(string lookup, string reason)
    {
        Func<HttpContext, string?> appId = lookup switch
        {
            "null" => _ => null,
            "empty" => _ => string.Empty,
            _ => _ => throw new InvalidOperationException("lookup failed"),
        };
        await using TestApp app = await TestApp.StartAsync(a =>
        {
            a.MapGet("/with", () => TypedResults.Accepted("/x", Describe(DifySession.Current))).WithDifySession(appId);
            a.MapGet("/without", () => TypedResults.Accepted("/x", Describe(DifySession.Current)));
        });

        using HttpResponseMessage expected = await app.Client.GetAsync("without");
        using HttpResponseMessage actual = await app.Client.GetAsync("with");
        Assert.Equal(202, (int)actual.StatusCode);
        Assert.Equal("\"none\"", await actual.Content.ReadAsStringAsync());
        Assert.Equal(await expected.Content.ReadAsStringAsync(), await actual.Content.ReadAsStringAsync());
        Assert.Equal(expected.Content.Headers.ContentType, actual.Content.Headers.ContentType);

        Microsoft.Extensions.Logging.Testing.FakeLogRecord log = Assert.Single(app.LogsOf(Category, LogLevel.Debug));
        Assert.Contains(reason, log.Message, StringComparison.Ordinal);
        Assert.Equal(lookup == "throws", log.Exception is InvalidOperationException);
    }

    [Fact]
    public void WithDifySession_OptionsWithoutAppId_Throws()
    {
        var endpoints = new TestEndpointConventionBuilder();

        ArgumentException error = Assert.Throws<ArgumentException>(() => endpoints.WithDifySession(o => o.PropagateAsBaggage = true));
        Assert.Equal("configure", error.ParamName);
        Assert.Throws<ArgumentNullException>(() => endpoints.WithDifySession((Func<HttpContext, string?>)null!));
        Assert.Throws<ArgumentNullException>(() => endpoints.WithDifySession((Action<DifySessionOptions>)null!));
        Assert.Throws<ArgumentNullException>(() => ((TestEndpointConventionBuilder)null!).WithDifySession(_ => "x"));
    }

    private sealed record Item(int Id, string Session);

    private sealed class TestEndpointConventionBuilder : IEndpointConventionBuilder
    {
        public void Add(Action<EndpointBuilder> convention)
        {
        }
    }

    /// <summary>A result that streams a model answer while it writes the response, as a chat UI endpoint does.</summary>
    private sealed class ChatStreamResult(IChatClient chat) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            await foreach (ChatResponseUpdate update in chat.GetStreamingResponseAsync("hello", cancellationToken: httpContext.RequestAborted))
            {
                await httpContext.Response.WriteAsync(update.Text);
            }

            await httpContext.Response.WriteAsync("|" + Describe(DifySession.Current));
        }
    }
}
