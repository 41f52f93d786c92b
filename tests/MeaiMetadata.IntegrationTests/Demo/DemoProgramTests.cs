using System.ClientModel;
using System.ClientModel.Primitives;
using MeaiMetadata.Demo;
using MeaiMetadata.FakeOpenAI;
using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;

namespace MeaiMetadata.IntegrationTests.Demo;

/// <summary>The demo, run in-process the way the README runs it.</summary>
public sealed class DemoProgramTests
{
    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await DemoProgram.RunAsync(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    private static string[][] RowsOf(string output) =>
        [.. output.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0 && char.IsDigit(l[0]))
            .Select(l => System.Text.RegularExpressions.Regex.Split(l, @"\s{2,}"))];

    [Fact]
    public async Task HeadersFlag_ShowsTheGatewayHeadersThatReachedTheEndpoint()
    {
        (int exit, string output, string error) = await RunAsync("--headers");

        Assert.Equal(0, exit);
        Assert.Equal("", error);
        string shown = output[output.IndexOf("Gateway headers that reached the endpoint", StringComparison.Ordinal)..];
        string[] requests = shown.Split("\nrequest ", StringSplitOptions.RemoveEmptyEntries)[1..];
        Assert.Equal(11, requests.Length);
        Assert.Contains("x-litellm-tags: dify_app_id:support-bot,dify_source:dify", requests[0], StringComparison.Ordinal);
        Assert.Contains("""x-portkey-metadata: {"dify_app_id":"support-bot","dify_source":"dify"}""", requests[0], StringComparison.Ordinal);
        string storeFalse = Assert.Single(requests, r => r.Contains("store false", StringComparison.Ordinal));
        Assert.Contains("cf-aig-metadata: {\"dify_app_id\":\"sales-assistant\"", storeFalse, StringComparison.Ordinal); // headers, no metadata
        Assert.EndsWith("(none)", requests[^1].TrimEnd(), StringComparison.Ordinal); // outside any session
    }

    [Fact]
    public async Task HeadersWithLive_IsAUsageError()
    {
        (int exit, _, string error) = await RunAsync("--headers", "--live");

        Assert.NotEqual(0, exit);
        Assert.Contains("--headers", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoArguments_PrintsTheTableAndExitsZero()
    {
        (int exit, string output, string error) = await RunAsync();

        Assert.Equal(0, exit);
        Assert.Equal("", error);
        // Cells: #, request, session, API, stream, metadata on the wire, store, outcome.
        string[][] rows = RowsOf(output);
        Assert.Equal(11, rows.Length); // 9 steps, two of them tool round trips of 2 requests
        Assert.All(rows, r => Assert.Equal(8, r.Length));
        Assert.All(rows, r => Assert.StartsWith("HTTP 200", r[7], StringComparison.Ordinal));
        string[] Row(string number) => Assert.Single(rows, r => r[0] == number);

        // Tagged where a session exists, each with its own app, on all four paths and every request of a tool loop.
        Assert.Equal(["1", "question", "support-bot", "chat.completions", "no", "dify_app_id=support-bot, dify_source=dify", "true"], Row("1")[..7]);
        Assert.Equal(["2", "question, streamed", "support-bot", "chat.completions", "yes", "dify_app_id=support-bot, dify_source=dify", "true"], Row("2")[..7]);
        Assert.Equal(["3", "question", "sales-assistant", "responses", "no", "dify_app_id=sales-assistant, dify_source=dify", "true"], Row("3")[..7]);
        Assert.Equal(["4", "question, streamed", "sales-assistant", "responses", "yes", "dify_app_id=sales-assistant, dify_source=dify", "true"], Row("4")[..7]);
        foreach (string number in new[] { "5a", "5b" })
        {
            Assert.Equal("dify_app_id=support-bot, dify_source=dify", Row(number)[5]);
        }

        foreach (string number in new[] { "6a", "6b" })
        {
            Assert.Equal("dify_app_id=sales-assistant, dify_source=dify", Row(number)[5]);
        }

        // store=false respected, caller metadata merged (and not spoofable), untouched outside a session.
        Assert.Equal(["(none)", "false"], Row("7")[5..7]);
        Assert.Equal(["dify_app_id=support-bot, dify_source=dify, team=search", "true"], Row("8")[5..7]);
        Assert.DoesNotContain("spoofed", output, StringComparison.Ordinal);
        Assert.Equal(["(no session)", "chat.completions", "no", "(none)", "(unset)"], Row("9")[2..7]);

        Assert.Contains("support-bot      5         5       25         15", output, StringComparison.Ordinal);
        Assert.Contains("sales-assistant  5         4       25         15", output, StringComparison.Ordinal);
        Assert.Contains("(no session)     1         0       0          0", output, StringComparison.Ordinal);
        Assert.Contains("dify.metadata.requests by outcome: attached=9, no_session=1, store_disabled=1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scenario_ReportMatchesWhatTheEndpointReceived()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync();
        var openAI = new OpenAIClient(new ApiKeyCredential("k"), new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });
        await using ServiceProvider services = DemoPipeline.Build(openAI, DemoArguments.DefaultModel, verbose: false);

        DemoReport report = await DemoRunner.RunAsync(services, new EndpointWireLog(server));

        IReadOnlyList<RecordedRequest> received = server.Requests;
        Assert.Equal(received.Count, report.Rows.Count);
        for (int i = 0; i < received.Count; i++)
        {
            WireRecord row = report.Rows[i].Wire;
            Assert.Equal(received[i].Metadata, row.Metadata);
            Assert.Equal(received[i].Store, row.Store);
            Assert.Equal(received[i].Stream, row.Stream);
            Assert.Equal(200, received[i].StatusCode);
            string? app = report.Rows[i].Step.App;
            Assert.Equal(app is not null && report.Rows[i].Step.Title != "caller sets store=false", row.Tagged);
            if (row.Tagged)
            {
                Assert.Equal(app, row.Metadata![DifyMetadataKeys.AppId]);
            }
        }

        Assert.Equal(0, report.FailedSteps);
    }

    [Fact]
    public async Task ServiceError_IsShownInTheTable_NotAStackTrace()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { ApiKey = "the-right-key" });
        var openAI = new OpenAIClient(new ApiKeyCredential("a-wrong-key"), new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });
        await using ServiceProvider services = DemoPipeline.Build(openAI, DemoArguments.DefaultModel, verbose: false);

        DemoReport report = await DemoRunner.RunAsync(services, new EndpointWireLog(server));
        using var output = new StringWriter();
        DemoTable.Write(output, report);

        Assert.Equal(DemoScenario.Steps.Count, report.FailedSteps);
        Assert.All(report.Rows, r => Assert.StartsWith("failed: HTTP 401", r.Outcome, StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", output.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_ListsOptionsAndTheStoreNote(string flag)
    {
        (int exit, string output, _) = await RunAsync(flag);

        Assert.Equal(0, exit);
        Assert.Contains("--live", output, StringComparison.Ordinal);
        Assert.Contains("--model", output, StringComparison.Ordinal);
        Assert.Contains("store=true", output, StringComparison.Ordinal);
        Assert.Contains("OPENAI_API_KEY", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--model")]
    public async Task BadArguments_ClearErrorExitTwo(string arg)
    {
        (int exit, string output, string error) = await RunAsync(arg);

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd().Split('\n'));
    }

    [Fact]
    public async Task Live_WithoutKey_NamesTheVariableExitTwo()
    {
        string? saved = Environment.GetEnvironmentVariable("OPENAI_API_KEY");
        Environment.SetEnvironmentVariable("OPENAI_API_KEY", null);
        try
        {
            (int exit, _, string error) = await RunAsync("--live");

            Assert.Equal(2, exit);
            Assert.Contains("OPENAI_API_KEY", error, StringComparison.Ordinal);
            Assert.Single(error.TrimEnd().Split('\n'));
        }
        finally
        {
            Environment.SetEnvironmentVariable("OPENAI_API_KEY", saved);
        }
    }

    [Fact]
    public async Task Verbose_EveryLogLineOfARequestNamesItsRow()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync();
        var openAI = new OpenAIClient(new ApiKeyCredential("k"), new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });
        var recorder = new ScopeRecorder();
        await using ServiceProvider services = DemoPipeline.Build(openAI, DemoArguments.DefaultModel, verbose: true, l => l.AddProvider(recorder));

        DemoReport report = await DemoRunner.RunAsync(services, new EndpointWireLog(server));

        Assert.Equal(0, report.FailedSteps);
        List<(string Category, string[] Scopes)> lines = [.. recorder.Lines];
        Assert.NotEmpty(lines);
        // Not the library's wording (it changes), only that each line carries exactly one "row N" scope.
        Assert.All(lines, l => Assert.Single(l.Scopes, s => System.Text.RegularExpressions.Regex.IsMatch(s, @"^row \d+$")));
        // Each step's requests logged something (tagged or why not), under that step's row.
        int[] rowsWithLines = [.. lines.Select(l => int.Parse(l.Scopes.Single(s => s.StartsWith("row ", StringComparison.Ordinal))[4..], System.Globalization.CultureInfo.InvariantCulture)).Distinct().Order()];
        Assert.Equal(Enumerable.Range(1, DemoScenario.Steps.Count), rowsWithLines);
    }

    /// <summary>Records each log line's category and scopes, as the console logger with IncludeScopes would print them.</summary>
    private sealed class ScopeRecorder : ILoggerProvider, ISupportExternalScope
    {
        private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

        public ConcurrentQueue<(string Category, string[] Scopes)> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public void Dispose()
        {
        }

        private sealed class Recorder(ScopeRecorder owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes.Push(state);

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var scopes = new List<string>();
                owner._scopes.ForEachScope((scope, list) => list.Add(scope?.ToString() ?? ""), scopes);
                owner.Lines.Enqueue((category, [.. scopes]));
            }
        }
    }
}
