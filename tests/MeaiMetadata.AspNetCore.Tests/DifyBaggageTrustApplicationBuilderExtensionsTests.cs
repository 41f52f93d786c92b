using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using MeaiMetadata.AspNetCore.Tests.TestDoubles;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using System.Diagnostics.Metrics;

namespace MeaiMetadata.AspNetCore.Tests;

public sealed class DifyBaggageTrustApplicationBuilderExtensionsTests
{
    private const string Category = "MeaiMetadata.AspNetCore.DifyBaggageTrustMiddleware";

    /// <summary>An app whose endpoint answers what it saw: the baggage header(s), and the request activity's dify.app_id and other.item.</summary>
    private static Task<TestApp> StartAsync(Func<HttpContext, bool> isTrusted, Action<WebApplication>? before = null) =>
        TestApp.StartAsync(a =>
        {
            before?.Invoke(a);
            a.UseDifyBaggageTrust(isTrusted);
            a.MapGet("/", (HttpContext c) => Seen(c));
        });

    private static string Seen(HttpContext c)
    {
        string header = c.Request.Headers.TryGetValue("baggage", out var values) ? string.Join(" | ", values.Select(v => $"[{v}]")) : "(none)";
        string legacy = c.Request.Headers.TryGetValue("Correlation-Context", out var cc) ? cc.ToString() : "(none)";
        return $"header={header} cc={legacy} activity={Activity.Current?.GetBaggageItem("dify.app_id") ?? "(none)"} other={Activity.Current?.GetBaggageItem("other.item") ?? "(none)"}";
    }

    private static async Task<string> GetWithBaggageAsync(TestApp app, string baggage, string? name = "baggage")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "");
        request.Headers.TryAddWithoutValidation(name!, baggage);
        using HttpResponseMessage response = await app.Client.SendAsync(request);
        Assert.Equal(200, (int)response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task UseDifyBaggageTrust_Trusted_BaggageUntouched()
    {
        await using TestApp app = await StartAsync(_ => true);

        // The control: ASP.NET Core put the incoming baggage on the request activity, and the header is as sent.
        Assert.Equal("header=[other.item=1, dify.app_id=victim,x=y;p=2] cc=(none) activity=victim other=1", await GetWithBaggageAsync(app, "other.item=1, dify.app_id=victim,x=y;p=2"));
        Assert.Empty(app.LogsOf(Category, LogLevel.Debug));
    }

    [Fact]
    public async Task UseDifyBaggageTrust_Untrusted_RemovesTheAppIdFromTheHeaderAndTheActivity_KeepsTheOtherMembers()
    {
        await using TestApp app = await StartAsync(_ => false);

        Assert.Equal("header=[other.item=1,x=y ; p = q] cc=(none) activity=(none) other=1", await GetWithBaggageAsync(app, "other.item=1, dify.app_id=victim;p=2,x=y ; p = q"));
    }

    [Fact]
    public async Task UseDifyBaggageTrust_Untrusted_HeaderWithOnlyTheAppId_IsDropped()
    {
        await using TestApp app = await StartAsync(_ => false);

        Assert.Equal("header=(none) cc=(none) activity=(none) other=(none)", await GetWithBaggageAsync(app, " dify.app_id = victim "));
    }

    [Theory]
    [InlineData("dify%2Eapp_id=victim")]
    [InlineData("%64ify.app_id=victim")]
    [InlineData("dify.app%5Fid=victim")]
    [InlineData("+dify.app_id=victim")]
    [InlineData("dify.app_id%20=victim")]
    [InlineData("\tdify.app_id\t=victim")]
    [InlineData("dify.app_id")]
    [InlineData("dify.app_id;prop=1")]
    public async Task UseDifyBaggageTrust_Untrusted_EncodedOrSpacedKeys_AreRemovedToo(string member)
    {
        await using TestApp app = await StartAsync(_ => false);

        // (.NET's propagator stops reading at a member without '=', so other.item may not reach the activity then.)
        Assert.StartsWith("header=[Dify.App_Id=kept,other.item=1] cc=(none) activity=(none) other=", await GetWithBaggageAsync(app, $"Dify.App_Id=kept,{member},other.item=1"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UseDifyBaggageTrust_Untrusted_KeysOfOtherCase_AreKept()
    {
        await using TestApp app = await StartAsync(_ => false);

        Assert.Equal("header=[DIFY.APP_ID=a,dify.app_idx=b,xdify.app_id=c] cc=(none) activity=(none) other=(none)", await GetWithBaggageAsync(app, "DIFY.APP_ID=a,dify.app_idx=b,xdify.app_id=c"));
        Assert.Empty(app.LogsOf(Category, LogLevel.Debug));
    }

    [Fact]
    public async Task UseDifyBaggageTrust_Untrusted_LegacyCorrelationContextHeader_IsStrippedToo()
    {
        await using TestApp app = await StartAsync(_ => false);

        // .NET's propagator reads Correlation-Context when there is no baggage header.
        Assert.Equal("header=(none) cc=other.item=1 activity=(none) other=1", await GetWithBaggageAsync(app, "dify.app_id=victim,other.item=1", "Correlation-Context"));
    }

    [Fact]
    public async Task UseDifyBaggageTrust_Untrusted_SeveralBaggageHeaderLines_EachIsStripped()
    {
        await using TestApp app = await StartAsync(_ => false);

        // Two header lines on the wire (HttpClient would join them into one).
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(app.Address.Host, app.Address.Port);
        await using NetworkStream stream = tcp.GetStream();
        byte[] request = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\nbaggage: a=1,dify.app_id=victim\r\nbaggage: dify.app_id=again\r\nbaggage: b=2\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(request);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        string response = await reader.ReadToEndAsync();

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.Contains("header=[a=1] | [b=2] cc=(none) activity=(none) other=(none)", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UseDifyBaggageTrust_Untrusted_ActivityChain_RemovedFromEveryLocalParentAndDuplicate()
    {
        await using TestApp app = await StartAsync(_ => false, before: a => a.Use(async (context, next) =>
        {
            // A child of the request activity that carries the item twice itself.
            using Activity child = new Activity("inner").AddBaggage("dify.app_id", "child-1").AddBaggage("dify.app_id", "child-2").Start();
            await next(context);
        }));

        Assert.Equal("header=[other.item=1] cc=(none) activity=(none) other=1", await GetWithBaggageAsync(app, "dify.app_id=victim,other.item=1"));
    }

    [Fact]
    public async Task UseDifyBaggageTrust_EachStrippedRequest_OneDebugLogAndOneCount_OnTheMeterFromDI()
    {
        await using TestApp app = await StartAsync(c => c.Request.Query.ContainsKey("trusted"));
        using var removed = new MetricCollector<long>(app.Services.GetRequiredService<IMeterFactory>(), "MeaiMetadata", "dify.baggage.removed");

        await GetWithBaggageAsync(app, "dify.app_id=victim");               // stripped
        await GetWithBaggageAsync(app, "other.item=1");                     // untrusted, nothing to strip
        using (var trusted = new HttpRequestMessage(HttpMethod.Get, "?trusted"))
        {
            trusted.Headers.Add("baggage", "dify.app_id=own");
            (await app.Client.SendAsync(trusted)).EnsureSuccessStatusCode(); // trusted
        }

        await GetWithBaggageAsync(app, "dify.app_id=a,dify%2Eapp_id=b");     // stripped

        Assert.Equal([1L, 1L], removed.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.Equal("{request}", removed.Instrument!.Unit);
        IReadOnlyList<Microsoft.Extensions.Logging.Testing.FakeLogRecord> logs = app.LogsOf(Category, LogLevel.Debug);
        Assert.Equal(2, logs.Count);
        Assert.All(logs, l => Assert.Contains("dify.app_id", l.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task UseDifyBaggageTrust_NoMeterFactory_CountsOnTheProcessWideMeter()
    {
        var app = new ApplicationBuilder(new ServiceCollection().BuildServiceProvider());
        app.UseDifyBaggageTrust(_ => false);
        app.Run(_ => Task.CompletedTask);
        RequestDelegate pipeline = app.Build();

        using var removed = new MetricCollector<long>(MeaiMetadata.AspNetCore.Diagnostics.DifyBaggageTrustMetrics.For(null).Removed); // the static meter's counter only
        var context = new DefaultHttpContext();
        context.Request.Headers["baggage"] = "dify.app_id=victim,k=v";
        await pipeline(context);

        Assert.Equal("k=v", context.Request.Headers["baggage"].ToString());
        Assert.Equal([1L], removed.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.Equal("MeaiMetadata", removed.Instrument!.Meter.Name);
    }

    [Fact]
    public async Task UseDifyBaggageTrust_PredicateThrows_TreatedAsUntrusted_WarningLogged_RequestSucceeds()
    {
        await using TestApp app = await StartAsync(_ => throw new InvalidOperationException("predicate failed"));

        Assert.Equal("header=[other.item=1] cc=(none) activity=(none) other=1", await GetWithBaggageAsync(app, "dify.app_id=victim,other.item=1"));
        Microsoft.Extensions.Logging.Testing.FakeLogRecord warning = Assert.Single(app.LogsOf(Category, LogLevel.Warning));
        Assert.IsType<InvalidOperationException>(warning.Exception);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task UseDifyBaggageTrust_DownstreamUseDifyMetadata_TagsTheCallersAppOnlyWhenTrusted(bool trusted)
    {
        var model = new RecordingChatClient();
        await using TestApp app = await TestApp.StartAsync(
            a =>
            {
                a.UseDifyBaggageTrust(_ => trusted);
                a.MapPost("/ask", async (IChatClient chat) => (await chat.GetResponseAsync("hi")).Text);
            },
            b => b.Services.AddChatClient(model).UseDifyMetadata(o => o.AppIdFromBaggage = true)); // reading baggage is opt-in

        using var request = new HttpRequestMessage(HttpMethod.Post, "ask");
        request.Headers.Add("baggage", "dify.app_id=victim");
        using HttpResponseMessage response = await app.Client.SendAsync(request);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync());

        IReadOnlyDictionary<string, string>? metadata = Assert.Single(model.Metadata);
        if (trusted)
        {
            Assert.Equal("victim", metadata?["dify_app_id"]);
        }
        else
        {
            Assert.Null(metadata);
        }
    }

    [Fact]
    public async Task UseDifyBaggageTrust_Untrusted_OutgoingHttpCallsOfTheRequest_CarryNoAppId()
    {
        await using TestApp backend = await TestApp.StartAsync(a => a.MapGet("/", (HttpContext c) => c.Request.Headers["baggage"].ToString()));
        await using TestApp edge = await TestApp.StartAsync(a =>
        {
            a.UseDifyBaggageTrust(_ => false);
            a.MapGet("/", async () =>
            {
                using var http = new HttpClient(); // .NET's handler sends Activity.Current's baggage
                return await http.GetStringAsync(backend.Address);
            });
        });

        string sent = await GetWithBaggageAsync(edge, "dify.app_id=victim,other.item=1");
        Assert.Contains("other.item", sent, StringComparison.Ordinal); // .NET's handler did send the activity's baggage
        Assert.DoesNotContain("dify.app_id", sent, StringComparison.Ordinal);
        Assert.DoesNotContain("victim", sent, StringComparison.Ordinal);
    }

    [Fact]
    public void UseDifyBaggageTrust_NullArguments_Throw()
    {
        var app = new ApplicationBuilder(new ServiceCollection().BuildServiceProvider());

        Assert.Throws<ArgumentNullException>(() => app.UseDifyBaggageTrust(null!));
        Assert.Throws<ArgumentNullException>(() => ((IApplicationBuilder)null!).UseDifyBaggageTrust(_ => true));
    }
}
