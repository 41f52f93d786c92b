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

    /// <summary>The tables of the output in order, each a list of rows (the header first) of trimmed cells: Spectre draws
    /// a row as "│ cell │ cell │" between border lines.</summary>
    private static List<List<string[]>> TablesOf(string output)
    {
        var tables = new List<List<string[]>>();
        List<string[]>? current = null;
        foreach (string line in output.Split('\n').Select(l => l.TrimEnd()))
        {
            if (line.StartsWith('┌'))
            {
                tables.Add(current = []);
            }
            else if (line.StartsWith('└'))
            {
                current = null;
            }
            else if (current is not null && line.StartsWith('│'))
            {
                current.Add([.. line.Split('│')[1..^1].Select(c => c.Trim())]);
            }
        }

        return tables;
    }

    /// <summary>The request table's rows (those whose first cell is a row number).</summary>
    private static string[][] RowsOf(string output) => [.. TablesOf(output)[0].Where(r => r[0].Length > 0 && char.IsDigit(r[0][0]))];

    [Fact]
    public async Task HeadersFlag_ShowsTheGatewayHeadersThatReachedTheEndpoint()
    {
        (int exit, string output, string error) = await RunAsync("--headers");

        Assert.Equal(0, exit);
        Assert.Equal("", error);
        int start = output.IndexOf("Gateway headers that reached the endpoint", StringComparison.Ordinal);
        string shown = output[start..output.IndexOf("Spend per app", start, StringComparison.Ordinal)]; // the spend comes last
        string[] requests = shown.Split("\nrequest ", StringSplitOptions.RemoveEmptyEntries)[1..];
        Assert.Equal(11, requests.Length);
        Assert.Contains("x-litellm-tags: dify_app_id:support-bot,dify_source:dify", requests[0], StringComparison.Ordinal);
        Assert.Contains("""x-portkey-metadata: {"dify_app_id":"support-bot","dify_source":"dify"}""", requests[0], StringComparison.Ordinal);
        string storeFalse = Assert.Single(requests, r => r.Contains("store false", StringComparison.Ordinal));
        Assert.Contains("cf-aig-metadata: {\"dify_app_id\":\"sales-assistant\"", storeFalse, StringComparison.Ordinal); // headers, no metadata
        Assert.EndsWith("(none)", requests[^1].TrimEnd(), StringComparison.Ordinal); // outside any session
    }

    [Fact]
    public async Task HeadersFlag_NamesEachRequestByItsTableRow()
    {
        (int exit, string output, _) = await RunAsync("--headers");

        Assert.Equal(0, exit);
        int start = output.IndexOf("Gateway headers that reached the endpoint", StringComparison.Ordinal);
        string shown = output[start..output.IndexOf("Spend per app", start, StringComparison.Ordinal)];
        string[] labels = [.. shown.Split("\nrequest ", StringSplitOptions.RemoveEmptyEntries)[1..].Select(r => r[..r.IndexOf(' ', StringComparison.Ordinal)])];
        Assert.Equal(["1", "2", "3", "4", "5a", "5b", "6a", "6b", "7", "8", "9"], labels);
        Assert.Equal(RowsOf(output).Select(r => r[0]), labels); // the request table's "#" column, in the same order
    }

    [Fact]
    public async Task UnpricedModel_SaysTheSpendCannotBeCompared_NotThatItAgrees()
    {
        (int exit, string output, string error) = await RunAsync("--model", "my-finetune");

        Assert.Equal(0, exit);
        Assert.Equal("", error);
        List<string[]> spend = TablesOf(output)[2];
        Assert.Equal("agree", spend[0][^1]);
        Assert.All(spend.Skip(1), r => Assert.Equal("no price", r[^1])); // not "yes" over zeros
        Assert.DoesNotContain("they agree", output, StringComparison.Ordinal);
        Assert.Contains("agree  = not compared: my-finetune has no price", output, StringComparison.Ordinal);
        Assert.Contains("DifyMetadata:Prices", output, StringComparison.Ordinal);
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

        // The endpoint's usage (DemoEndpoint): a 1,200-token prompt on Chat Completions, 1,500 on Responses, 40 output tokens;
        // the second request of a tool round trip 60 more input tokens (1,152 / 1,408 of them cached) and 20 output.
        // support-bot: 1, 2, 5a, 8 chat + 5b chat follow-up = 4 x 1,200 + 1,260 = 6,060 in, 4 x 40 + 20 = 180 out.
        // sales-assistant: 3, 4, 6a responses + 6b responses follow-up + 7 chat = 3 x 1,500 + 1,560 + 1,200 = 7,260 in, 180 out.
        List<List<string[]>> tables = TablesOf(output);
        Assert.Equal(4, tables.Count); // the budget section's table last (DemoBudgetTests)
        Assert.Equal(
            [["app", "requests", "tagged", "tokens in", "tokens out"], ["support-bot", "5", "5", "6060", "180"], ["sales-assistant", "5", "4", "7260", "180"], ["(no session)", "1", "0", "0", "0"]],
            tables[1]);
        Assert.Contains("dify.metadata.requests by outcome: attached=9, no_session=1, store_disabled=1", output, StringComparison.Ordinal);

        // Spend, gpt-4o-mini at 0.15 input / 0.075 cached / 0.60 output per million tokens:
        //   chat first request 1,200 x 0.15 + 40 x 0.6 = 204 per million; chat follow-up 108 x 0.15 + 1,152 x 0.075 + 20 x 0.6 = 114.6;
        //   responses first 1,500 x 0.15 + 24 = 249; responses follow-up 152 x 0.15 + 1,408 x 0.075 + 12 = 140.4.
        //   support-bot: 4 x 204 + 114.6 = 930.6, all of it stored Chat Completions (5 stored, all listed by the report).
        //   sales-assistant: 3 x 249 + 140.4 + 204 (row 7, store=false) = 1,091.4, none of it stored: the report lists nothing.
        Assert.Equal(
            [["app", "meter: all requests", "meter: stored Chat Completions", "report: stored completions", "agree"],
             ["support-bot", "0.00093060", "0.00093060", "0.00093060 (5 listed)", "yes"],
             ["sales-assistant", "0.00109140", "0.00000000", "0.00000000 (0 listed)", "yes"],
             ["(no session)", "0.00000000", "0.00000000", "0.00000000 (0 listed)", "yes"]],
            tables[2]);
        Assert.Contains("they agree for every app", output, StringComparison.Ordinal);

        // It ends, before the budget section, with a bar per app, the larger spend the longer bar.
        string beforeBudget = output[..output.IndexOf(DemoBudgetTests.Heading, StringComparison.Ordinal)];
        string[] last = [.. beforeBudget.TrimEnd().Split('\n').TakeLast(3).Select(l => l.Trim())];
        Assert.Matches(@"^support-bot\s+█+ 0\.00093060$", last[0]);
        Assert.Matches(@"^sales-assistant\s+█+ 0\.00109140$", last[1]);
        Assert.Equal("(no session)  0.00000000", last[2]);
        Assert.InRange(Bars(last[0]), 1, Bars(last[1]) - 1);
        Assert.DoesNotContain("\u001b", output, StringComparison.Ordinal); // no ANSI codes when redirected

        static int Bars(string line) => line.Count(c => c == '█');
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
        DemoOutput.Write(output, report);

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
        Assert.Contains("--redis <host:port>", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--model")]
    [InlineData("--redis")]
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
