using MeaiMetadata.FakeOpenAI;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.SpendTool.Tests;

/// <summary>The meai-spend tool, run in-process against the strict fake.</summary>
public sealed class SpendProgramTests
{
    private static async Task<(int Exit, string Output, string Error)> RunAsync(string? key, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await SpendProgram.RunAsync(args, output, error, name => name == "OPENAI_API_KEY" ? key : null);
        return (exit, output.ToString(), error.ToString());
    }

    private static async Task<FakeOpenAIServer> SeededAsync(string? apiKey = null)
    {
        FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { ApiKey = apiKey });
        long created = new DateTimeOffset(2026, 11, 2, 12, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds();
        for (int i = 0; i < 150; i++)
        {
            server.AddStoredCompletion(new StoredCompletion
            {
                Id = $"chatcmpl-{i}", Created = created + i, Model = "gpt-4o-mini",
                Metadata = new Dictionary<string, string> { ["dify_app_id"] = i % 2 == 0 ? "support-bot" : "sales-assistant" },
                PromptTokens = 1_000, CompletionTokens = 100,
            });
        }

        return server;
    }

    [Theory]
    [InlineData(new string[0], "--since is required")]
    [InlineData(new[] { "--since", "2026-13-01" }, "--since '2026-13-01' is not a date")]
    [InlineData(new[] { "--since" }, "--since needs a value")]
    [InlineData(new[] { "--since", "2026-11-01", "--until", "2026-10-01" }, "--until is before --since")]
    [InlineData(new[] { "--since", "2026-11-01", "--format", "xml" }, "--format 'xml' is not one of table, csv, json")]
    [InlineData(new[] { "--since", "2026-11-01", "--base-url", "not a url" }, "--base-url 'not a url' is not an absolute http(s) URL")]
    [InlineData(new[] { "--since", "2026-11-01", "--verbose" }, "unknown option '--verbose'")]
    [InlineData(new[] { "--since", "2026-11-01", "--app", "" }, "--app needs an app id")]
    [InlineData(new[] { "--since", "2026-11-01", "--prices", "" }, "--prices needs a file")]
    [InlineData(new[] { "--since", "2026-11-01", "--config" }, "--config needs a value")]
    public async Task BadArguments_Exit2_NamingWhatWasWrong(string[] args, string message)
    {
        (int exit, string output, string error) = await RunAsync("key", args);

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--since", "2026-11-01", "2026-11-02")]
    [InlineData("--until", "2026-11-20", "2026-11-30")]
    [InlineData("--app", "support-bot", "sales-assistant")]
    [InlineData("--format", "csv", "json")]
    [InlineData("--base-url", "http://127.0.0.1:1/v1/", "http://127.0.0.1:2/v1/")]
    public async Task OptionGivenTwice_Exit2_NamingIt(string option, string first, string second)
    {
        // The endpoint is unreachable: a run that took the second value instead of refusing would exit 1.
        string[] args = option == "--since"
            ? ["--since", first, "--since", second, "--base-url", "http://127.0.0.1:1/v1/"]
            : option == "--base-url"
                ? ["--since", "2026-11-01", option, first, option, second]
                : ["--since", "2026-11-01", option, first, option, second, "--base-url", "http://127.0.0.1:1/v1/"];

        (int exit, string output, string error) = await RunAsync("key", args);

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains($"{option} is given twice", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_Exit0_ListsEveryOption(string help)
    {
        // Help wins wherever it stands, even after a bad value.
        (int exit, string output, string error) = await RunAsync(null, "--since", "not-a-date", help);

        Assert.Equal(0, exit);
        Assert.Equal("", error);
        foreach (string option in new[] { "--since", "--until", "--app", "--format", "--base-url", "--help", "OPENAI_API_KEY", "Exit codes" })
        {
            Assert.Contains(option, output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task MissingKey_Exit2_NamingOPENAI_API_KEY()
    {
        (int exit, _, string error) = await RunAsync(null, "--since", "2026-11-01");

        Assert.Equal(2, exit);
        Assert.Contains("OPENAI_API_KEY", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Http401_Exit2()
    {
        await using FakeOpenAIServer server = await SeededAsync(apiKey: "right");

        (int exit, _, string error) = await RunAsync("wrong", "--since", "2026-11-01", "--base-url", server.BaseAddress.ToString());

        Assert.Equal(2, exit);
        Assert.Contains("HTTP 401", error, StringComparison.Ordinal);
        Assert.Contains("OPENAI_API_KEY", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Csv_ExactTotals_ProgressOnStderr()
    {
        await using FakeOpenAIServer server = await SeededAsync(apiKey: "right");

        (int exit, string output, string error) = await RunAsync("right", "--since", "2026-11-01", "--until", "2026-11-02", "--format", "csv", "--base-url", server.BaseAddress.ToString());

        Assert.Equal(0, exit);
        // 75 each: 75 x (1,000 x 0.15 + 100 x 0.6) / 1e6 = 75 x 0.00021 = 0.01575.
        Assert.Equal(
            ["app,model,requests,input_tokens,cached_input_tokens,output_tokens,cost_usd",
             "sales-assistant,gpt-4o-mini,75,75000,0,7500,0.01575",
             "support-bot,gpt-4o-mini,75,75000,0,7500,0.01575"],
            output.TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')));
        Assert.Contains("paging stored completions, newest first: 100 read", error, StringComparison.Ordinal);
        Assert.Contains("150 read", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Table_OneApp_WithABar()
    {
        await using FakeOpenAIServer server = await SeededAsync();

        (int exit, string output, string error) = await RunAsync("key", "--since", "2026-11-01", "--app", "support-bot", "--base-url", server.BaseAddress.ToString());

        Assert.Equal(0, exit);
        Assert.Contains("support-bot", output, StringComparison.Ordinal);
        Assert.DoesNotContain("sales-assistant", output, StringComparison.Ordinal);
        Assert.Contains("spend per app (USD)", output, StringComparison.Ordinal);
        Assert.Equal(2, output.Split("0.015750").Length - 1); // the table's cell and the bar's value, written alike
        Assert.Matches(@"read \d+ stored completion\(s\), \d+ of them in the range and of the app;", error);
    }

    [Fact]
    public async Task Json_ParsesBack()
    {
        await using FakeOpenAIServer server = await SeededAsync();

        (int exit, string output, _) = await RunAsync("key", "--since", "2026-11-01", "--format", "json", "--base-url", server.BaseAddress.ToString());

        Assert.Equal(0, exit);
        using var json = System.Text.Json.JsonDocument.Parse(output);
        Assert.Equal(150, json.RootElement.EnumerateArray().Sum(r => r.GetProperty("requests").GetInt64()));
    }

    [Theory]
    [InlineData("table", false)]
    [InlineData("csv", false)]
    [InlineData("json", false)]
    [InlineData("table", true)]
    [InlineData("csv", true)]
    [InlineData("json", true)]
    public async Task EmptyResult_FriendlyLine_Exit0(string format, bool wrongApp)
    {
        // Nothing stored yet, or stored completions of other apps only and an --app that matches none of them.
        await using FakeOpenAIServer server = wrongApp ? await SeededAsync() : await FakeOpenAIServer.StartAsync();
        string[] app = wrongApp ? ["--app", "suport-bot"] : [];

        (int exit, string output, string error) = await RunAsync("key", ["--since", "2026-11-01", "--until", "2026-11-30", "--format", format, "--base-url", server.BaseAddress.ToString(), .. app]);

        Assert.Equal(0, exit);
        string line = wrongApp ? "No stored completions of app 'suport-bot' from 2026-11-01 to 2026-11-30 (UTC)." : "No stored completions from 2026-11-01 to 2026-11-30 (UTC).";
        switch (format)
        {
            case "table":
                Assert.StartsWith(line, output, StringComparison.Ordinal);
                break;
            case "csv": // still a CSV file: the header alone; the line on stderr
                Assert.Equal("app,model,requests,input_tokens,cached_input_tokens,output_tokens,cost_usd", output.TrimEnd());
                Assert.Contains(line, error, StringComparison.Ordinal);
                break;
            default:
                Assert.Equal("[]", output.TrimEnd());
                Assert.Contains(line, error, StringComparison.Ordinal);
                break;
        }
    }

    [Fact]
    public async Task Http404_BaseUrlWithoutV1_Exit2_HintsV1()
    {
        await using FakeOpenAIServer server = await SeededAsync();
        var root = new Uri(server.BaseAddress, "/"); // http://127.0.0.1:PORT/, without the /v1/ the fake (like OpenAI) serves under

        (int exit, string output, string error) = await RunAsync("key", "--since", "2026-11-01", "--base-url", root.ToString());

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains("HTTP 404", error, StringComparison.Ordinal);
        Assert.Contains($"the base URL probably lacks /v1 (OpenAI's is https://api.openai.com/v1/; try {server.BaseAddress})", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Http404_BaseUrlWithV1_Exit1_NoV1Hint()
    {
        // An Azure-like endpoint under /openai/v1/, asked at /v1/: the URL has its /v1, the 404 is something else.
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { PathBase = "/openai/v1" });
        var wrong = new Uri(server.BaseAddress, "/v1/");

        (int exit, _, string error) = await RunAsync("key", "--since", "2026-11-01", "--base-url", wrong.ToString());

        Assert.Equal(1, exit);
        Assert.Contains($"HTTP 404 from {wrong}: it does not list stored completions", error, StringComparison.Ordinal);
        Assert.DoesNotContain("lacks /v1", error, StringComparison.Ordinal);
    }

    /// <summary>App ids the library changes on the wire: over 512 characters, a surrogate pair across the cut, lone surrogates.</summary>
    public static TheoryData<int> AppIdsTheWireChanges => new() { 0, 1, 2, 3 };

    private static (string Given, string OnTheWire) AppIdCase(int index) => index switch
    {
        0 => (new string('a', 600), new string('a', 512)),
        1 => (new string('b', 511) + "\U0001F600" + "tail", new string('b', 511)), // the pair would end at 513: cut before it
        2 => ("lone\uD800high-and-\uDC00low", "lone\uFFFDhigh-and-\uFFFDlow"),
        _ => (new string('c', 510) + "\U0001F600" + "tail", new string('c', 510) + "\U0001F600"), // the pair ends at 512: kept
    };

    [Theory]
    [MemberData(nameof(AppIdsTheWireChanges))]
    public async Task App_NormalizedLikeTheWire_IsFound(int index)
    {
        (string given, string onTheWire) = AppIdCase(index);
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync();
        IChatClient client = new ChatClientBuilder(OpenAIPipeline.ProviderClient(server, WireApi.ChatCompletions)).UseDifyMetadata().Build();
        foreach (string app in new[] { given, "other-app" })
        {
            using (DifySession.Begin(app))
            {
                await OpenAIPipeline.SendAsync(client, streaming: false);
            }
        }

        Assert.Equal([onTheWire, "other-app"], server.StoredCompletions.Select(c => c.Metadata["dify_app_id"])); // what the library sent
        string since = DateTimeOffset.UtcNow.AddDays(-1).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

        (int exit, string output, _) = await RunAsync("key", "--since", since, "--app", given, "--format", "json", "--base-url", server.BaseAddress.ToString());

        Assert.Equal(0, exit);
        using var json = System.Text.Json.JsonDocument.Parse(output);
        System.Text.Json.JsonElement row = Assert.Single(json.RootElement.EnumerateArray());
        Assert.Equal(onTheWire, row.GetProperty("app").GetString());
        Assert.Equal(1, row.GetProperty("requests").GetInt64());
    }

    [Fact]
    public async Task UnreachableEndpoint_Exit1_NamingIt()
    {
        (int exit, _, string error) = await RunAsync("k", "--since", "2026-11-01", "--base-url", "http://127.0.0.1:1/v1/");

        Assert.Equal(1, exit);
        Assert.True(error.Contains("could not be reached", StringComparison.Ordinal), error);
    }
}
