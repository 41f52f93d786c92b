using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace MeaiMetadata.Tests;

public class DifyMetadataServiceCollectionExtensionsTests
{
    private static IConfigurationRoot Configuration(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void AddDifyMetadata_BindsEveryKey()
    {
        IConfigurationRoot configuration = Configuration(
            ("DifyMetadata:Enabled", "false"),
            ("DifyMetadata:Source", "gateway"),
            ("DifyMetadata:StorePolicy", "LeaveUnset"),
            ("DifyMetadata:AdditionalPropertiesEnabled", "false"),
            ("DifyMetadata:AppIdFromBaggage", "false"),
            ("DifyMetadata:MaxMetricAppIds", "7"));
        using ServiceProvider services = new ServiceCollection().AddDifyMetadata(configuration.GetSection("DifyMetadata")).BuildServiceProvider();

        DifyMetadataOptions options = services.GetRequiredService<IOptions<DifyMetadataOptions>>().Value;

        Assert.False(options.Enabled);
        Assert.Equal("gateway", options.Source);
        Assert.Equal(DifyStorePolicy.LeaveUnset, options.StorePolicy);
        Assert.False(options.AdditionalPropertiesEnabled);
        Assert.False(options.AppIdFromBaggage);
        Assert.Equal(7, options.MaxMetricAppIds);
    }

    [Fact]
    public void AddDifyMetadata_InvalidSource_FailsWhenTheClientIsBuilt()
    {
        IConfigurationRoot configuration = Configuration(("DifyMetadata:Source", new string('s', 600)));
        var services = new ServiceCollection().AddDifyMetadata(configuration.GetSection("DifyMetadata"));
        services.AddChatClient(new OpenAIStandInClient(StandInApi.ChatCompletions)).UseDifyMetadata();
        using ServiceProvider provider = services.BuildServiceProvider();

        OptionsValidationException ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IChatClient>());
        Assert.Contains("512", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddDifyMetadata_InvalidOptions_FailHostStart()
    {
        IConfigurationRoot configuration = Configuration(("DifyMetadata:MaxMetricAppIds", "-1"));
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddDifyMetadata(configuration.GetSection("DifyMetadata"));
        using IHost host = builder.Build();

        OptionsValidationException ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("MaxMetricAppIds", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigurationChange_TakesEffectOnTheNextRequest()
    {
        IConfigurationRoot configuration = Configuration(("DifyMetadata:Enabled", "true"));
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var services = new ServiceCollection().AddDifyMetadata(configuration.GetSection("DifyMetadata"));
        services.AddChatClient(inner).UseDifyMetadata();
        using ServiceProvider provider = services.BuildServiceProvider();
        IChatClient client = provider.GetRequiredService<IChatClient>();

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
            Assert.Equal("app", inner.LastChat.Metadata["dify_app_id"]);

            configuration["DifyMetadata:Enabled"] = "false";
            configuration.Reload();
            await client.GetResponseAsync("hi");
            Assert.Empty(inner.LastChat.Metadata);

            configuration["DifyMetadata:Enabled"] = "true";
            configuration["DifyMetadata:Source"] = "changed";
            configuration.Reload();
            await client.GetResponseAsync("hi");
            Assert.Equal("changed", inner.LastChat.Metadata["dify_source"]);
        }
    }

    [Theory]
    [InlineData("Source", "600 x s", "600 characters")]
    [InlineData("MaxMetricAppIds", "-5", "-5")]
    [InlineData("StorePolicy", "Nope", "'Nope'")]
    [InlineData("Enabled", "perhaps", "'perhaps'")]
    public async Task ConfigurationChange_ToInvalid_RefusedWithOneErrorNamingIt_NothingThrownToTheReloader(string option, string value, string named)
    {
        IConfigurationRoot configuration = Configuration(("DifyMetadata:Source", "good"));
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var collector = new FakeLogCollector();
        var services = new ServiceCollection()
            .AddLogging(b => b.AddProvider(new FakeLoggerProvider(collector)).SetMinimumLevel(LogLevel.Debug))
            .AddDifyMetadata(configuration.GetSection("DifyMetadata"));
        services.AddChatClient(inner).UseDifyMetadata();
        using ServiceProvider provider = services.BuildServiceProvider();
        IChatClient client = provider.GetRequiredService<IChatClient>();

        configuration["DifyMetadata:" + option] = value == "600 x s" ? new string('s', 600) : value;
        Exception? reloadError = Record.Exception(configuration.Reload);

        Assert.Null(reloadError);
        FakeLogRecord refused = Assert.Single(collector.GetSnapshot(), r => r.Level >= LogLevel.Error);
        Assert.Contains(option, refused.Message, StringComparison.Ordinal);
        Assert.Contains(named, refused.Message, StringComparison.Ordinal);
        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal("good", inner.LastChat.Metadata["dify_source"]); // the previous options stay in force
    }

    [Fact]
    public async Task ConfigurationChange_ToInvalid_PipelinesBuiltAfterIt_UseThePreviousOptions_OneErrorEvenWithNoClientYet()
    {
        IConfigurationRoot configuration = Configuration(("DifyMetadata:Source", "good"));
        var collector = new FakeLogCollector();
        var services = new ServiceCollection()
            .AddLogging(b => b.AddProvider(new FakeLoggerProvider(collector)).SetMinimumLevel(LogLevel.Debug))
            .AddDifyMetadata(configuration.GetSection("DifyMetadata"));
        services.AddChatClient(_ => new OpenAIStandInClient(StandInApi.ChatCompletions), ServiceLifetime.Scoped).UseDifyMetadata();
        using ServiceProvider provider = services.BuildServiceProvider();
        _ = provider.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<DifyMetadataOptions>>().CurrentValue; // validated once

        configuration["DifyMetadata:MaxMetricAppIds"] = "-5";
        configuration.Reload();

        FakeLogRecord refused = Assert.Single(collector.GetSnapshot(), r => r.Level >= LogLevel.Warning);
        Assert.Contains("-5", refused.Message, StringComparison.Ordinal);
        using IServiceScope scope = provider.CreateScope();
        IChatClient client = scope.ServiceProvider.GetRequiredService<IChatClient>(); // built after the refused change: no throw
        var inner = (OpenAIStandInClient)client.GetService(typeof(OpenAIStandInClient))!;
        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal("good", inner.LastChat.Metadata["dify_source"]);
        Assert.Single(collector.GetSnapshot(), r => r.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task ReloadOfSeveralFileProviders_OneErrorForTheRefusal_NoneForTheValidReloadAfterIt()
    {
        // One Reload() raises a change per file provider, each validated again while the others may still be stale.
        string folder = Directory.CreateTempSubdirectory("meaimetadata-reload-").FullName;
        try
        {
            string first = Path.Combine(folder, "a.json"), second = Path.Combine(folder, "b.json");
            await File.WriteAllTextAsync(first, "{\"DifyMetadata\":{\"Source\":\"one\"}}");
            await File.WriteAllTextAsync(second, "{}");
            IConfigurationRoot configuration = new ConfigurationBuilder().AddJsonFile(first, false, false).AddJsonFile(second, false, false).Build();
            var collector = new FakeLogCollector();
            var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
            var services = new ServiceCollection()
                .AddLogging(b => b.AddProvider(new FakeLoggerProvider(collector)).SetMinimumLevel(LogLevel.Debug))
                .AddDifyMetadata(configuration.GetSection("DifyMetadata"));
            services.AddChatClient(inner).UseDifyMetadata();
            using ServiceProvider provider = services.BuildServiceProvider();
            IChatClient client = provider.GetRequiredService<IChatClient>();

            await File.WriteAllTextAsync(second, "{\"DifyMetadata\":{\"Source\":\"three\",\"MaxMetricAppIds\":-5}}");
            configuration.Reload();
            Assert.Single(collector.GetSnapshot(), r => r.Level >= LogLevel.Warning);

            await File.WriteAllTextAsync(second, "{\"DifyMetadata\":{\"Source\":\"four\"}}");
            configuration.Reload();
            Assert.Single(collector.GetSnapshot(), r => r.Level >= LogLevel.Warning);

            // A later edit refused for the same reason is a new refusal: logged again (past the 2 s of one reload's changes).
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            await File.WriteAllTextAsync(second, "{\"DifyMetadata\":{\"Source\":\"five\",\"MaxMetricAppIds\":-5}}");
            configuration.Reload();
            Assert.Equal(2, collector.GetSnapshot().Count(r => r.Level >= LogLevel.Warning));
            await File.WriteAllTextAsync(second, "{\"DifyMetadata\":{\"Source\":\"four\"}}");
            configuration.Reload();
            using (DifySession.Begin("app"))
            {
                await client.GetResponseAsync("hi");
            }

            Assert.Equal("four", inner.LastChat.Metadata["dify_source"]);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("StorePolicy", "Nope")]
    [InlineData("MaxMetricAppIds", "-5")]
    public void InvalidAtStartUp_StopsTheFirstUse_NamingTheOption(string option, string value)
    {
        IConfigurationRoot configuration = Configuration(("DifyMetadata:" + option, value));
        var services = new ServiceCollection().AddDifyMetadata(configuration.GetSection("DifyMetadata"));
        services.AddChatClient(new OpenAIStandInClient(StandInApi.ChatCompletions)).UseDifyMetadata();
        using ServiceProvider provider = services.BuildServiceProvider();

        // A value that cannot be validated is named by the validation; one the binder cannot convert, by the binder.
        Exception error = Assert.ThrowsAny<Exception>(() => provider.GetRequiredService<IChatClient>());
        Assert.True(error is OptionsValidationException or InvalidOperationException, error.GetType().FullName);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NamedOptions_KeyedClientsUseTheirOwn()
    {
        var tenantA = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var tenantB = new OpenAIStandInClient(StandInApi.Responses);
        var services = new ServiceCollection()
            .AddDifyMetadata("a", o => o.Source = "source-a")
            .AddDifyMetadata("b", o => o.Enabled = false);
        services.AddKeyedChatClient("a", tenantA).UseDifyMetadata("a", configure: null);
        services.AddKeyedChatClient("b", tenantB).UseDifyMetadata("b", configure: null);
        using ServiceProvider provider = services.BuildServiceProvider();

        using (DifySession.Begin("app"))
        {
            await provider.GetRequiredKeyedService<IChatClient>("a").GetResponseAsync("hi");
            await provider.GetRequiredKeyedService<IChatClient>("b").GetResponseAsync("hi");
        }

        Assert.Equal("source-a", tenantA.LastChat.Metadata["dify_source"]);
        Assert.Empty(tenantB.LastResponses.Metadata);
    }

    [Fact]
    public async Task Configure_IsAppliedOnTopOfRegisteredOptions()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var services = new ServiceCollection().AddDifyMetadata(o => o.Source = "registered");
        services.AddChatClient(inner).UseDifyMetadata(o => o.AdditionalPropertiesEnabled = false);
        using ServiceProvider provider = services.BuildServiceProvider();

        using (DifySession.Begin("app"))
        {
            await provider.GetRequiredService<IChatClient>().GetResponseAsync("hi");
        }

        Assert.Equal("registered", inner.LastChat.Metadata["dify_source"]);
        Assert.Null(inner.LastOptions!.AdditionalProperties);
        Assert.Equal("registered", provider.GetRequiredService<IOptions<DifyMetadataOptions>>().Value.Source);
        Assert.True(provider.GetRequiredService<IOptions<DifyMetadataOptions>>().Value.AdditionalPropertiesEnabled);
    }

    [Fact]
    public void GatewayHeaders_BindFromConfigurationInTheDocumentedShape()
    {
        IConfigurationRoot configuration = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream("""{ "DifyMetadata": { "GatewayHeaders": ["Helicone", "Portkey", "Cloudflare", "LiteLLM", "X-App: text"], "GatewayHeaderPrefixes": ["X-"] } }"""u8.ToArray()))
            .Build();
        using ServiceProvider provider = new ServiceCollection().AddDifyMetadata(configuration.GetSection("DifyMetadata")).BuildServiceProvider();

        DifyMetadataOptions options = provider.GetRequiredService<IOptionsMonitor<DifyMetadataOptions>>().CurrentValue;

        Assert.Equal(["Helicone", "Portkey", "Cloudflare", "LiteLLM", "X-App: text"], options.GatewayHeaders);
        Assert.Equal(["X-"], options.GatewayHeaderPrefixes);
    }

    [Fact]
    public async Task GatewayHeaders_SwitchLive_AndABadEntryIsRefusedWithAnError()
    {
        IConfigurationRoot configuration = Configuration(("DifyMetadata:GatewayHeaders:0", "LiteLLM"));
        var collector = new FakeLogCollector();
        var captured = new List<string?>();
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = (_, _, _) =>
            {
                captured.Add(CurrentGatewayHeaders.Values?[0].Key);
                return Task.FromResult(new ChatResponse());
            },
        };
        var services = new ServiceCollection()
            .AddLogging(b => b.AddProvider(new FakeLoggerProvider(collector)).SetMinimumLevel(LogLevel.Debug))
            .AddDifyMetadata(configuration.GetSection("DifyMetadata"));
        services.AddChatClient(inner).UseDifyMetadata();
        using ServiceProvider provider = services.BuildServiceProvider();
        IChatClient client = provider.GetRequiredService<IChatClient>();

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
            configuration["DifyMetadata:GatewayHeaders:0"] = "Portkey";
            configuration.Reload();
            await client.GetResponseAsync("hi");
            configuration["DifyMetadata:GatewayHeaders:0"] = "Nope";
            Assert.Null(Record.Exception(configuration.Reload));
            await client.GetResponseAsync("hi");
        }

        Assert.Equal(["x-litellm-tags", "x-portkey-metadata", "x-portkey-metadata"], captured);
        FakeLogRecord refused = Assert.Single(collector.GetSnapshot(), r => r.Level >= LogLevel.Error);
        Assert.Contains("GatewayHeaders", refused.Message, StringComparison.Ordinal);
        Assert.Contains("'Nope'", refused.Message, StringComparison.Ordinal);
    }
}
