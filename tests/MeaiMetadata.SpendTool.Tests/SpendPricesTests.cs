using MeaiMetadata.FakeOpenAI;

namespace MeaiMetadata.SpendTool.Tests;

/// <summary>Prices from a JSON file (<c>--prices</c>) or the app's configuration (<c>--config</c>), run in-process against the
/// strict fake.</summary>
public sealed class SpendPricesTests : IDisposable
{
    private const string Header = "app,model,requests,input_tokens,cached_input_tokens,output_tokens,cost_usd";

    // Prices of the files below, in US dollars per million tokens: my-finetune (not built in) 2 / 1 cached / 8;
    // gpt-4o-mini overridden to 1 / (cached: the input price) / 2; support-prod an alias of gpt-4o-mini.
    private const string PricesAndAliases = """
        "Prices": {
          "my-finetune": { "InputPerMillion": 2, "CachedInputPerMillion": 1, "OutputPerMillion": 8 },
          "gpt-4o-mini": { "InputPerMillion": 1, "OutputPerMillion": 2 }
        },
        "ModelAliases": { "support-prod": "gpt-4o-mini" }
        """;

    private readonly string _directory = Directory.CreateTempSubdirectory("meai-spend-tests-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string File(string name, string json)
    {
        string path = Path.Combine(_directory, name);
        System.IO.File.WriteAllText(path, json);
        return path;
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await SpendProgram.RunAsync(args, output, error, name => name == "OPENAI_API_KEY" ? "key" : null);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>Ten completions of app "bot" per model, 1,000 input tokens (200 cached) and 100 output tokens each.</summary>
    private static async Task<FakeOpenAIServer> SeededAsync()
    {
        FakeOpenAIServer server = await FakeOpenAIServer.StartAsync();
        long created = new DateTimeOffset(2026, 11, 2, 12, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds();
        string[] models = ["gpt-4o", "my-finetune", "support-prod"];
        for (int i = 0; i < 30; i++)
        {
            server.AddStoredCompletion(new StoredCompletion
            {
                Id = $"chatcmpl-{i}", Created = created + i, Model = models[i % 3],
                Metadata = new Dictionary<string, string> { ["dify_app_id"] = "bot" },
                PromptTokens = 1_000, CachedTokens = 200, CompletionTokens = 100,
            });
        }

        return server;
    }

    private static string[] Lines(string output) => [.. output.TrimEnd().Split('\n').Select(l => l.TrimEnd('\r'))];

    [Fact]
    public async Task WithoutPrices_BuiltIn_UnpricedModelsNamed()
    {
        await using FakeOpenAIServer server = await SeededAsync();

        (int exit, string output, string error) = await RunAsync("--since", "2026-11-01", "--format", "csv", "--base-url", server.BaseAddress.ToString());

        Assert.Equal(0, exit);
        // gpt-4o built in: 800 x 2.5 + 200 x 1.25 + 100 x 10 = 3,250 per million, x 10 = 0.0325.
        Assert.Equal([Header, "bot,gpt-4o,10,10000,2000,1000,0.0325", "bot,my-finetune,10,10000,2000,1000,", "bot,support-prod,10,10000,2000,1000,"], Lines(output));
        Assert.Contains("no price for 'my-finetune', 'support-prod'", error, StringComparison.Ordinal);
        Assert.Contains("prices: the built-in prices", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--prices", "{" + PricesAndAliases + "}")] // the two keys at the root
    [InlineData("--prices", """{ "Logging": { "LogLevel": { "Default": "Warning" } }, "DifyMetadata": { "Source": "dify", """ + PricesAndAliases + "} }")] // a whole appsettings file
    [InlineData("--config", """{ "Logging": { "LogLevel": { "Default": "Warning" } }, "AllowedHosts": "*", "DifyMetadata": { "Enabled": true, "GatewayHeaders": [ "Helicone" ], """ + PricesAndAliases + "} }")]
    public async Task Prices_FromFileOrConfig_PriceEveryModel(string option, string json)
    {
        await using FakeOpenAIServer server = await SeededAsync();
        string path = File(option == "--config" ? "appsettings.json" : "prices.json", json);

        (int exit, string output, string error) = await RunAsync("--since", "2026-11-01", "--format", "csv", "--base-url", server.BaseAddress.ToString(), option, path);

        Assert.Equal(0, exit);
        // my-finetune: 800 x 2 + 200 x 1 + 100 x 8 = 2,600 per million, x 10 = 0.026.
        // support-prod, priced as gpt-4o-mini as overridden: 1,000 x 1 (cached at the input price) + 100 x 2 = 1,200, x 10 = 0.012.
        // gpt-4o: built in, as without a file.
        Assert.Equal([Header, "bot,gpt-4o,10,10000,2000,1000,0.0325", "bot,my-finetune,10,10000,2000,1000,0.026", "bot,support-prod,10,10000,2000,1000,0.012"], Lines(output));
        Assert.DoesNotContain("no price", error, StringComparison.Ordinal);
        Assert.Contains($"prices: 2 price(s) and 1 alias(es) from {path} over the built-in prices", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_WithoutPrices_TheBuiltInsAsTheAppsMeter()
    {
        await using FakeOpenAIServer server = await SeededAsync();
        string path = File("appsettings.json", """{ "DifyMetadata": { "Enabled": true } }""");

        (int exit, string output, string error) = await RunAsync("--since", "2026-11-01", "--format", "csv", "--base-url", server.BaseAddress.ToString(), "--config", path);

        Assert.Equal(0, exit);
        Assert.Equal("bot,gpt-4o,10,10000,2000,1000,0.0325", Lines(output)[1]);
        Assert.Contains($"{path} has no DifyMetadata:Prices or DifyMetadata:ModelAliases", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--prices", """{ "Prices": { "my-finetune": { "InputPerMillion": -1, "OutputPerMillion": 8 } } }""", "Prices[\"my-finetune\"].InputPerMillion must be 0 or more; it is -1")]
    [InlineData("--prices", """{ "Prices": { "my-finetune": { "InputPerMillion": 2 } } }""", "Prices[\"my-finetune\"].OutputPerMillion is missing")]
    [InlineData("--prices", """{ "Prices": { "my-finetune": { } } }""", "Prices[\"my-finetune\"].InputPerMillion is missing")]
    [InlineData("--prices", """{ "Prices": { "my-finetune": { "InputPerMillion": 2, "OutputPerMillion": 8, "CachedInputPerMillion": 2000000 } } }""", "Prices[\"my-finetune\"].CachedInputPerMillion must be at most")]
    [InlineData("--prices", """{ "Prices": { "my-finetune": { "InputPerMillion": "two", "OutputPerMillion": 8 } } }""", "Prices:my-finetune:InputPerMillion")]
    [InlineData("--prices", """{ "Prices": { "my-finetune": { "InputPerMilion": 2, "OutputPerMillion": 8 } } }""", "Prices:my-finetune", "InputPerMilion")]
    [InlineData("--prices", """{ "Prices": { "my-finetune": 2 } }""", "Prices:my-finetune is \"2\"; a price is an object")]
    [InlineData("--prices", """{ "Prices": { "ft:gpt-4o-mini:acme::abc": { "InputPerMillion": 1, "OutputPerMillion": 2 } } }""", "Prices:ft", "a model id with ':' cannot be a configuration key")]
    [InlineData("--prices", """{ "Prices": "cheap" }""", "Prices is \"cheap\"; it must be an object keyed by model id")]
    [InlineData("--prices", """{ "ModelAliases": { "support-prod": "" } }""", "ModelAliases[\"support-prod\"] must map a name to a model id")]
    [InlineData("--prices", """{ "ModelAliases": { "prod": "gpt-4o", "PROD": "gpt-4o-mini" } }""", "duplicate key", "PROD")]
    [InlineData("--prices", """{ "Logging": { } }""", "no \"Prices\" or \"ModelAliases\", neither at the root nor under \"DifyMetadata\"")]
    [InlineData("--prices", """{ "Prices": { """, "Failed to load configuration from file")]
    [InlineData("--config", """{ "DifyMetadata": { "Prices": { "my-finetune": { "InputPerMillion": 2, "CachedInputPerMillion": -0.5, "OutputPerMillion": 8 } } } }""", "Prices[\"my-finetune\"].CachedInputPerMillion must be 0 or more")]
    [InlineData("--config", null, "was not found")]
    public async Task BadPrices_Exit2_NamingTheFileModelAndField(string option, string? json, string expected, string? alsoExpected = null)
    {
        string path = json is null ? Path.Combine(_directory, "missing.json") : File("prices.json", json);

        // The endpoint is unreachable: bad prices must stop the run before it asks (a run that went on would exit 1).
        (int exit, string output, string error) = await RunAsync("--since", "2026-11-01", "--base-url", "http://127.0.0.1:1/v1/", option, path);

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.StartsWith($"error: {option} {path}: ", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.Contains(alsoExpected ?? expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PricesAndConfigTogether_Exit2()
    {
        (int exit, _, string error) = await RunAsync("--since", "2026-11-01", "--prices", "a.json", "--config", "b.json");

        Assert.Equal(2, exit);
        Assert.Contains("--prices and --config both give prices; give one of them", error, StringComparison.Ordinal);
    }
}
