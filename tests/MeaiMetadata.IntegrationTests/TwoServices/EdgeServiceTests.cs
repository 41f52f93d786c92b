using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.TwoServices;
using Xunit.Abstractions;

namespace MeaiMetadata.IntegrationTests.TwoServices;

/// <summary>
/// The sample's edge in front of its backend and the strict fake OpenAI, all on real Kestrel (127.0.0.1), called as the
/// internet would: API keys, spoofed baggage, no key, many callers at once. What counts is what the fake received. Alone
/// (serial): the services' OpenTelemetry listens process-wide, and the load test would crowd other tests.
/// </summary>
[Collection(SerialTests.Name)]
public sealed class EdgeServiceTests(ITestOutputHelper output)
{
    private static readonly (string ApiKey, string AppId)[] s_tenCallers =
        [.. Enumerable.Range(0, 10).Select(i => ($"sk-caller-{i}", i == 3 ? "Ünïcode app, \"quoted\"; with=signs" : $"app-{i}"))];

    public static TheoryData<string> SpoofedBaggage =>
    [
        "dify.app_id=victim",
        "tenant.region=eu,dify.app_id=victim",
        "dify.app_id=victim,tenant.region=eu",
        "dify.app_id=victim;x=y",
        "tenant.region=eu, dify.app_id=victim;x=y;z, user.tier=gold",
        "dify.app_id=vic%74im",
        "dify%2Eapp_id=victim",
        "%64ify.app_id=victim",
        " dify.app_id = victim ",
        "dify.app_id=victim,dify.app_id=victim",
        "dify.app_id=victim,,",
    ];

    [Fact]
    public async Task ThousandConcurrentRequests_TenCallers_EachReachesOpenAIWithItsCallersAppId()
    {
        await using TwoServicesHost host = await TwoServicesHost.StartAsync(s_tenCallers);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stopwatch = Stopwatch.StartNew();

        // 1,000 requests at once, 100 per caller, interleaved; each prompt carries its own id, which the fake records. Every
        // other request also claims the next caller's app in its own baggage.
        (string Prompt, string AppId)[] sent = [.. Enumerable.Range(0, 1000).Select(i => ($"req-{i}-{Guid.NewGuid():N}", s_tenCallers[i % 10].AppId))];
        HttpStatusCode[] statuses = await Task.WhenAll(sent.Select(async (r, i) =>
        {
            (string Name, string Value)[] claim = i % 2 == 0 ? [] : [("baggage", "dify.app_id=" + Uri.EscapeDataString(s_tenCallers[(i + 1) % 10].AppId))];
            using HttpResponseMessage response = await host.AskAsync(s_tenCallers[i % 10].ApiKey, r.Prompt, claim).WaitAsync(timeout.Token);
            return response.StatusCode;
        }));
        stopwatch.Stop();

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        IReadOnlyList<RecordedRequest> received = host.OpenAI.Requests;
        Assert.Equal(1000, received.Count);
        Dictionary<string, RecordedRequest> byPrompt = received.ToDictionary(r => r.LastUserText!);
        int wrongApp = sent.Count(r => byPrompt[r.Prompt].Metadata?.GetValueOrDefault(DifyMetadataKeys.AppId) != r.AppId);
        Assert.Equal(0, wrongApp);
        Assert.All(received, r => Assert.Equal(200, r.StatusCode));
        Assert.Equal(
            s_tenCallers.Select(c => (c.AppId, 100)).OrderBy(c => c.AppId, StringComparer.Ordinal),
            received.GroupBy(r => r.Metadata![DifyMetadataKeys.AppId]).Select(g => (g.Key, g.Count())).OrderBy(c => c.Key, StringComparer.Ordinal));
        output.WriteLine($"1,000 concurrent requests through edge and backend: {stopwatch.ElapsedMilliseconds} ms, 0 attributed to the wrong app");
    }

    [Theory]
    [MemberData(nameof(SpoofedBaggage))]
    public async Task CallerSendsItsOwnAppIdAsBaggage_OpenAIReceivesTheAuthenticatedApp(string baggage)
    {
        await using TwoServicesHost host = await TwoServicesHost.StartAsync(s_tenCallers);

        using HttpResponseMessage response = await host.AskAsync("sk-caller-1", "spoof 1", ("baggage", baggage));
        using HttpResponseMessage correlation = await host.AskAsync("sk-caller-2", "spoof 2", ("Correlation-Context", baggage));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, correlation.StatusCode);
        AssertNoVictim(host.ReceivedFor("spoof 1"), "app-1");
        AssertNoVictim(host.ReceivedFor("spoof 2"), "app-2");
    }

    [Fact]
    public async Task CallerBaggage_OtherMembersReachTheBackend_TheAppIdIsTheEdges()
    {
        await using TwoServicesHost host = await TwoServicesHost.StartAsync(s_tenCallers);

        using HttpResponseMessage response = await host.AskAsync("sk-caller-4", "members", ("baggage", "tenant.region=eu,dify.app_id=victim"));

        response.EnsureSuccessStatusCode();
        RecordedRequest received = host.ReceivedFor("members");
        AssertNoVictim(received, "app-4");

        // The backend's own OpenAI request carries its baggage (OpenTelemetry's HttpClient instrumentation writes it from
        // Baggage.Current): the edge's app id, the caller's other member, and nothing of the caller's dify.app_id.
        string[] members = [.. received.Header("baggage")!.Split(',').Select(m => string.Join('=', m.Split('=').Select(p => p.Trim())))];
        Assert.Equal(["dify.app_id=app-4", "tenant.region=eu"], members.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("tenant.region=eu")]
    [InlineData("tenant.region=eu,user.tier=gold")]
    [InlineData("tenant.region=eu;p=1")]
    public async Task CallerSendsOtherBaggageOnly_OpenAIReceivesItsOwnApp_NotUntagged(string baggage)
    {
        // With OpenTelemetry's default propagator, any baggage member makes its HttpClient instrumentation rewrite the
        // outgoing baggage header from Baggage.Current: the edge's AddDifyBaggage() client must put the session's app id in
        // it for its send, or the backend gets no app id.
        await using TwoServicesHost host = await TwoServicesHost.StartAsync(s_tenCallers);

        using HttpResponseMessage response = await host.AskAsync("sk-caller-6", "other members", ("baggage", baggage));

        response.EnsureSuccessStatusCode();
        RecordedRequest received = host.ReceivedFor("other members");
        Assert.Equal("app-6", received.Metadata?.GetValueOrDefault(DifyMetadataKeys.AppId));
        Assert.Contains("tenant.region=eu", received.Header("baggage") ?? "", StringComparison.Ordinal);
    }

    public static TheoryData<string> VictimAmongOtherMembers =>
    [
        "tenant.region=eu,dify.app_id=victim,user.tier=gold",
        "user.tier=gold, %64ify.app_id=victim, tenant.region=eu",
        "tenant.region=eu,dify%2Eapp_id=victim;p=1,dify.app_id=victim",
        "dify.app_id=victim,tenant.region=eu,dify.app_id=vic%74im",
        "tenant.region=eu,dify.app_id=victim;x=y, dify.app_id =victim",
    ];

    [Theory]
    [MemberData(nameof(VictimAmongOtherMembers))]
    public async Task VictimMixedWithOtherMembers_NeverVictim_TheCallersAppAtOpenAI(string baggage)
    {
        await using TwoServicesHost host = await TwoServicesHost.StartAsync(s_tenCallers);

        using HttpResponseMessage response = await host.AskAsync("sk-caller-7", "mixed", ("baggage", baggage));
        using HttpResponseMessage correlation = await host.AskAsync("sk-caller-8", "mixed correlation", ("Correlation-Context", baggage));
        using HttpResponseMessage direct = await host.CompleteDirectlyAsync("mixed direct", ("baggage", baggage));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, correlation.StatusCode);
        Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
        AssertNoVictim(host.ReceivedFor("mixed"), "app-7");
        AssertNoVictim(host.ReceivedFor("mixed correlation"), "app-8");

        // Straight to the backend (not the edge): untagged, and the backend sends none of it on either.
        RecordedRequest untrusted = host.ReceivedFor("mixed direct");
        Assert.Null(untrusted.Metadata);
        Assert.DoesNotContain("victim", untrusted.Header("baggage") ?? "", StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("baggage: a=1", "baggage: dify.app_id=victim")]
    [InlineData("baggage: dify.app_id=victim", "baggage: dify.app_id=victim;p=1")]
    [InlineData("baggage: dify.app_id=victim", "Correlation-Context: dify.app_id=victim")]
    [InlineData("Correlation-Context: dify.app_id=victim", "Correlation-Context: x=1,dify.app_id=victim")]
    public async Task SeveralBaggageHeaderLines_OpenAIReceivesTheAuthenticatedApp(string first, string second)
    {
        await using TwoServicesHost host = await TwoServicesHost.StartAsync(s_tenCallers);

        // HttpClient joins the values of a header into one line; a raw request sends two separate lines.
        int status = await RawPostAsync(host.EdgeAddress, "/ask", "two lines", $"X-Api-Key: sk-caller-5", first, second);

        Assert.Equal(200, status);
        AssertNoVictim(host.ReceivedFor("two lines"), "app-5");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("sk-guessed")]
    [InlineData("SK-CALLER-1")]
    [InlineData("sk-caller-10")]
    [InlineData("sk-caller-1,sk-caller-2")]
    public async Task NoOrBadApiKey_WithSpoofedBaggage_Is401AndReachesNoModel(string? apiKey)
    {
        await using TwoServicesHost host = await TwoServicesHost.StartAsync(s_tenCallers);

        using HttpResponseMessage response = await host.AskAsync(apiKey, "anonymous", ("baggage", "dify.app_id=victim"));
        int twoKeys = await RawPostAsync(host.EdgeAddress, "/ask", "two keys", "X-Api-Key: sk-caller-1", "X-Api-Key: sk-caller-2", "baggage: dify.app_id=victim");
        await host.StopAsync(); // waits for anything still in flight

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(401, twoKeys);
        Assert.Empty(host.OpenAI.Requests);
    }

    [Fact]
    public async Task EveryRequest_IsOneConnectedTrace_EdgeBackendAndOpenAISpansShareItsTraceId()
    {
        await using TwoServicesHost host = await TwoServicesHost.StartAsync(s_tenCallers);

        // 40 requests at once, a quarter of them with spoofed baggage, a quarter with a trace context of the caller's own.
        string[] prompts = [.. Enumerable.Range(0, 40).Select(i => $"trace-{i}")];
        ActivityTraceId callersTrace = ActivityTraceId.CreateRandom();
        await Task.WhenAll(prompts.Select(async (prompt, i) =>
        {
            using HttpResponseMessage response = (i % 4) switch
            {
                0 => await host.AskAsync(s_tenCallers[i % 10].ApiKey, prompt, ("baggage", "dify.app_id=victim")),
                1 => await host.AskAsync(s_tenCallers[i % 10].ApiKey, prompt, ("traceparent", $"00-{callersTrace}-{ActivitySpanId.CreateRandom()}-01")),
                _ => await host.AskAsync(s_tenCallers[i % 10].ApiKey, prompt),
            };
            response.EnsureSuccessStatusCode();
        }));
        await host.StopAsync();

        Activity[] spans = host.Spans;
        string openAI = host.OpenAI.BaseAddress.ToString();
        Activity[] edgeServer = [.. spans.Where(s => IsServer(s, "/ask"))];
        Assert.Equal(40, edgeServer.Length);
        Assert.Equal(40, edgeServer.Select(s => s.TraceId).Distinct().Count());
        Assert.DoesNotContain(spans, s => s.TraceId == callersTrace); // a caller's traceparent starts no trace of ours
        Assert.Equal(spans.Length, spans.Select(s => s.SpanId).Distinct().Count()); // each span exported once, by its own service

        // No orphans: every exported span is a root or its parent was exported too.
        HashSet<ActivitySpanId> exported = [.. spans.Select(s => s.SpanId)];
        Assert.All(spans, s => Assert.True(s.ParentSpanId == default || exported.Contains(s.ParentSpanId), $"{s.Source.Name} '{s.DisplayName}' has an unexported parent"));
        foreach (Activity edge in edgeServer)
        {
            Activity[] trace = [.. spans.Where(s => s.TraceId == edge.TraceId)];
            Assert.Equal(default, edge.ParentSpanId);
            Activity edgeClient = Assert.Single(trace, s => s.Kind == ActivityKind.Client && s.GetTagItem("url.full") is string url && url.StartsWith(host.BackendAddress.ToString(), StringComparison.Ordinal));
            Activity backendServer = Assert.Single(trace, s => IsServer(s, "/complete"));
            Activity chat = Assert.Single(trace, s => s.Source.Name == ServiceTelemetry.ChatSourceName);
            Activity openAIClient = Assert.Single(trace, s => s.Kind == ActivityKind.Client && s.GetTagItem("url.full") is string url && url.StartsWith(openAI, StringComparison.Ordinal));
            Assert.Equal(5, trace.Length);

            // Parented as the request went: edge server -> edge client -> backend server -> chat -> OpenAI client.
            Assert.Equal(edge.SpanId, edgeClient.ParentSpanId);
            Assert.Equal(edgeClient.SpanId, backendServer.ParentSpanId);
            Assert.Equal(backendServer.SpanId, chat.ParentSpanId);
            Assert.Equal(chat.SpanId, openAIClient.ParentSpanId);

            // The chat span names the app the fake received for this very request.
            RecordedRequest received = Assert.Single(host.OpenAI.Requests, r => r.Header("traceparent")?.Contains(edge.TraceId.ToHexString(), StringComparison.Ordinal) == true);
            Assert.Equal(received.Metadata![DifyMetadataKeys.AppId], chat.GetTagItem("dify.app_id"));
            Assert.NotEqual("victim", received.Metadata[DifyMetadataKeys.AppId]);
        }
    }

    private static bool IsServer(Activity span, string path) => span.Kind == ActivityKind.Server && Equals(span.GetTagItem("url.path"), path);

    private static void AssertNoVictim(RecordedRequest received, string appId)
    {
        Assert.Equal(200, received.StatusCode);
        Assert.Equal(appId, received.Metadata![DifyMetadataKeys.AppId]);
        Assert.DoesNotContain("victim", received.Header("baggage") ?? "", StringComparison.Ordinal);
        Assert.DoesNotContain("victim", received.Body, StringComparison.Ordinal);
    }

    /// <summary>Sends one HTTP/1.1 POST with the header lines exactly as given, and returns the status code.</summary>
    private static async Task<int> RawPostAsync(Uri service, string path, string body, params string[] headerLines)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(service.Host, service.Port);
        await using NetworkStream stream = client.GetStream();
        byte[] content = Encoding.UTF8.GetBytes(body);
        var request = new StringBuilder();
        request.Append($"POST {path} HTTP/1.1\r\nHost: {service.Authority}\r\nContent-Type: text/plain\r\nContent-Length: {content.Length}\r\nConnection: close\r\n");
        foreach (string line in headerLines)
        {
            request.Append(line).Append("\r\n");
        }

        request.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request.ToString()));
        await stream.WriteAsync(content);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string statusLine = (await reader.ReadLineAsync())!; // "HTTP/1.1 200 OK"
        await reader.ReadToEndAsync();
        return int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
