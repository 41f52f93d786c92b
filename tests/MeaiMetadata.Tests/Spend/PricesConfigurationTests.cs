using MeaiMetadata.Spend;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace MeaiMetadata.Tests.Spend;

/// <summary>The price table as <c>AddDifyMetadata(section)</c> binds it, in the JSON shape.</summary>
public sealed class PricesConfigurationTests
{
    private static IConfigurationRoot Configuration(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void Json_BindsPricesAndAliases()
    {
        const string Json = """
            { "DifyMetadata": {
                "Prices": { "gpt-4o-mini": { "InputPerMillion": 0.15, "CachedInputPerMillion": 0.075, "OutputPerMillion": 0.6 },
                            "my-finetune": { "InputPerMillion": 3, "OutputPerMillion": 12 } },
                "ModelAliases": { "support-prod": "my-finetune" } } }
            """;
        IConfigurationRoot configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(Json))).Build();
        using ServiceProvider services = new ServiceCollection().AddDifyMetadata(configuration.GetSection("DifyMetadata")).BuildServiceProvider();

        DifyMetadataOptions options = services.GetRequiredService<IOptions<DifyMetadataOptions>>().Value;

        Assert.Equal(0.075m, options.Prices["gpt-4o-mini"].CachedInputPerMillion);
        Assert.Equal(12m, options.Prices["MY-FINETUNE"].OutputPerMillion);
        Assert.Null(options.Prices["my-finetune"].CachedInputPerMillion);
        Assert.Equal("my-finetune", options.ModelAliases["support-prod"]);
        Assert.Equal(0.015m, DifyPriceTable.Create(options.Prices, options.ModelAliases).GetCost("support-prod", 1_000, 0, 1_000));
    }

    [Fact]
    public async Task ConfiguredPrice_PricesTheCounter()
    {
        IConfigurationRoot configuration = Configuration(
            ("DifyMetadata:Prices:gpt-4o-mini:InputPerMillion", "1"),
            ("DifyMetadata:Prices:gpt-4o-mini:OutputPerMillion", "2"));
        var services = new ServiceCollection().AddMetrics().AddDifyMetadata(configuration.GetSection("DifyMetadata"));
        services.AddChatClient(new TestChatClient
        {
            GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse { Usage = new UsageDetails { InputTokenCount = 1_000, OutputTokenCount = 1_000 } }),
        }).UseDifyMetadata();
        using ServiceProvider provider = services.BuildServiceProvider();
        using var cost = new MetricCollector<double>(provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.CostCounter);

        using (DifySession.Begin("app"))
        {
            await provider.GetRequiredService<IChatClient>().GetResponseAsync("hi", new ChatOptions { ModelId = "gpt-4o-mini" });
        }

        // 1,000 x 1 / 1e6 + 1,000 x 2 / 1e6 = 0.003 (built in it would be 0.00075).
        Assert.Equal(0.003, Assert.Single(cost.GetMeasurementSnapshot()).Value, 12);
    }

    [Theory]
    [InlineData("DifyMetadata:Prices:gpt-4o-mini:OutputPerMillion", "-1", "Prices[\"gpt-4o-mini\"].OutputPerMillion")]
    [InlineData("DifyMetadata:Prices:gpt-4o-mini:InputPerMillion", "cheap", "'cheap'")]
    public async Task Reload_WithABadPrice_RefusedWithAnErrorNamingIt(string key, string value, string named)
    {
        IConfigurationRoot configuration = Configuration(
            ("DifyMetadata:Prices:gpt-4o-mini:InputPerMillion", "1"),
            ("DifyMetadata:Prices:gpt-4o-mini:OutputPerMillion", "2"));
        var collector = new FakeLogCollector();
        var services = new ServiceCollection()
            .AddMetrics()
            .AddLogging(b => b.AddProvider(new FakeLoggerProvider(collector)).SetMinimumLevel(LogLevel.Debug))
            .AddDifyMetadata(configuration.GetSection("DifyMetadata"));
        services.AddChatClient(new TestChatClient
        {
            GetResponseAsyncCallback = (_, _, _) => Task.FromResult(new ChatResponse { Usage = new UsageDetails { InputTokenCount = 1_000, OutputTokenCount = 1_000 } }),
        }).UseDifyMetadata();
        using ServiceProvider provider = services.BuildServiceProvider();
        IChatClient client = provider.GetRequiredService<IChatClient>();
        using var cost = new MetricCollector<double>(provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), DifyMetadataTelemetry.MeterName, DifyMetadataTelemetry.CostCounter);

        configuration[key] = value;
        Exception? reloadError = Record.Exception(configuration.Reload);

        Assert.Null(reloadError);
        FakeLogRecord refused = Assert.Single(collector.GetSnapshot(), r => r.Level >= LogLevel.Warning);
        Assert.Equal(LogLevel.Error, refused.Level);
        Assert.Contains(named, refused.Message, StringComparison.Ordinal);
        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi", new ChatOptions { ModelId = "gpt-4o-mini" });
        }

        Assert.Equal(0.003, Assert.Single(cost.GetMeasurementSnapshot()).Value, 12); // the previous prices stay in force
    }
}
