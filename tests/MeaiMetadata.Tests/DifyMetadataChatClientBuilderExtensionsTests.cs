using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace MeaiMetadata.Tests;

public class DifyMetadataChatClientBuilderExtensionsTests
{
    [Fact]
    public void UseDifyMetadata_NullBuilder_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => ((ChatClientBuilder)null!).UseDifyMetadata());
    }

    [Fact]
    public void UseDifyMetadata_AddsTheLayer()
    {
        IChatClient client = new ChatClientBuilder(new TestChatClient()).UseDifyMetadata().Build();

        Assert.IsType<DifyMetadataChatClient>(client);
    }

    [Fact]
    public void UseDifyMetadata_Disabled_AddsNoLayer()
    {
        var inner = new TestChatClient();

        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata(o => o.Enabled = false).Build();

        Assert.Same(inner, client);
    }

    [Fact]
    public async Task UseDifyMetadata_AppliesConfigure()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata(o => o.Source = "custom").Build();

        using (DifySession.Begin("app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Equal("custom", inner.LastChat.Metadata["dify_source"]);
    }

    [Fact]
    public async Task UseDifyMetadata_TakesLoggerFactoryFromServices()
    {
        var collector = new FakeLogCollector();
        ServiceProvider services = new ServiceCollection()
            .AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new FakeLoggerProvider(collector)))
            .BuildServiceProvider();
        IChatClient client = new ChatClientBuilder(new OpenAIStandInClient(StandInApi.ChatCompletions)).UseDifyMetadata().Build(services);

        using (DifySession.Begin("logged-app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.Contains(collector.GetSnapshot(), r => r.Category == typeof(DifyMetadataChatClient).FullName && r.Message.Contains("logged-app", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AddChatClient_PipelineInDependencyInjection_TagsRequests()
    {
        var inner = new OpenAIStandInClient(StandInApi.Responses);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddChatClient(inner).UseFunctionInvocation().UseDifyMetadata().UseOpenTelemetry().UseLogging();
        using ServiceProvider provider = services.BuildServiceProvider();
        IChatClient client = provider.GetRequiredService<IChatClient>();

        using (DifySession.Begin("di-app"))
        {
            await client.GetResponseAsync("hi");
        }

        Assert.NotNull(client.GetService<DifyMetadataChatClient>());
        Assert.Equal("di-app", inner.LastResponses.Metadata["dify_app_id"]);
    }

    [Fact]
    public async Task NeighbourLayers_LoggingAtTraceInside_SerializesTheTagsItSees()
    {
        // MEAI's LoggingChatClient writes the options as JSON at Trace, and writes "{}" instead when they cannot be
        // serialized: the values this layer puts in AdditionalProperties must serialize with MEAI's JSON options.
        var collector = new FakeLogCollector();
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new FakeLoggerProvider(collector)));
        services.AddChatClient(inner).UseDifyMetadata().UseLogging();
        await using ServiceProvider provider = services.BuildServiceProvider();

        using (DifySession.Begin("logged-app"))
        {
            await provider.GetRequiredService<IChatClient>().GetResponseAsync("hi");
        }

        FakeLogRecord invoked = Assert.Single(collector.GetSnapshot(), r => r.Category?.EndsWith(nameof(LoggingChatClient), StringComparison.Ordinal) is true && r.Message.Contains("invoked", StringComparison.OrdinalIgnoreCase));
        string json = string.Concat(invoked.Message.Where(c => !char.IsWhiteSpace(c))); // the options are indented
        Assert.Contains("Options:{\"additionalProperties\":{\"metadata\":{\"dify_app_id\":\"logged-app\",\"dify_source\":\"dify\"},\"store\":true}}", json, StringComparison.Ordinal);
        Assert.Equal("logged-app", inner.LastChat.Metadata["dify_app_id"]);
    }

    private static async Task<OpenAIStandInClient> SendInSessionAsync(IChatClient client, OpenAIStandInClient inner, string appId = "app")
    {
        using (DifySession.Begin(appId))
        {
            await client.GetResponseAsync("hi");
        }

        return inner;
    }

    [Fact]
    public async Task UseDifyMetadata_ServicesConfigureWithoutAddDifyMetadata_ReachesTheLayer()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var services = new ServiceCollection();
        services.Configure<DifyMetadataOptions>(o => o.Source = "from-configure");
        services.AddChatClient(inner).UseDifyMetadata();
        await using ServiceProvider provider = services.BuildServiceProvider();

        await SendInSessionAsync(provider.GetRequiredService<IChatClient>(), inner);

        Assert.Equal("from-configure", inner.LastChat.Metadata["dify_source"]);
    }

    [Fact]
    public async Task UseDifyMetadata_AddOptionsBindFromConfiguration_ReachesTheLayerAndFollowsReloads()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var source = new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource { InitialData = new Dictionary<string, string?> { ["DifyMetadata:Source"] = "bound" } };
        Microsoft.Extensions.Configuration.IConfigurationRoot configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder().Add(source).Build();
        var services = new ServiceCollection();
        services.AddOptions<DifyMetadataOptions>().Bind(configuration.GetSection("DifyMetadata"));
        services.AddChatClient(inner).UseDifyMetadata();
        await using ServiceProvider provider = services.BuildServiceProvider();
        IChatClient client = provider.GetRequiredService<IChatClient>();

        await SendInSessionAsync(client, inner);
        Assert.Equal("bound", inner.LastChat.Metadata["dify_source"]);

        configuration["DifyMetadata:Enabled"] = "false";
        configuration.Reload();
        await SendInSessionAsync(client, inner);

        Assert.Empty(inner.LastChat.Metadata); // switched off live: the request went out untagged
    }

    [Fact]
    public async Task UseDifyMetadata_AddOptionsConfigureWithDependency_ReachesTheLayer()
    {
        var inner = new OpenAIStandInClient(StandInApi.Responses);
        var services = new ServiceCollection();
        services.AddSingleton(new AppIdHolder("from-dependency"));
        services.AddOptions<DifyMetadataOptions>().Configure<AppIdHolder>((o, holder) => o.AppIdResolver = () => holder.AppId);
        services.AddChatClient(inner).UseDifyMetadata();
        await using ServiceProvider provider = services.BuildServiceProvider();

        await provider.GetRequiredService<IChatClient>().GetResponseAsync("hi"); // no session: the resolver supplies the id

        Assert.Equal("from-dependency", inner.LastResponses.Metadata["dify_app_id"]);
    }

    [Fact]
    public void UseDifyMetadata_AddOptionsValidateFails_BuildingThePipelineThrows()
    {
        var services = new ServiceCollection();
        services.AddOptions<DifyMetadataOptions>().Validate(o => o.Source == "required", "Source must be 'required'.");
        services.AddChatClient(new TestChatClient()).UseDifyMetadata();
        using ServiceProvider provider = services.BuildServiceProvider();

        OptionsValidationException error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IChatClient>());

        Assert.Contains("Source must be 'required'.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UseDifyMetadata_ServicesConfigureDisabled_KeepsTheLayerSoItCanBeSwitchedOnLive()
    {
        var services = new ServiceCollection();
        services.Configure<DifyMetadataOptions>(o => o.Enabled = false);
        services.AddChatClient(new TestChatClient()).UseDifyMetadata();
        using ServiceProvider provider = services.BuildServiceProvider();

        Assert.NotNull(provider.GetRequiredService<IChatClient>().GetService<DifyMetadataChatClient>());
    }

    [Fact]
    public void UseDifyMetadata_ServicesHoldOptions_FollowsThemLive_ConfigureOnTop()
    {
        var inner = new TestChatClient();
        var services = new ServiceCollection();
        services.Configure<DifyMetadataOptions>("other", o => o.Source = "other");
        services.AddChatClient(inner).UseDifyMetadata(o => o.Enabled = false);
        using ServiceProvider provider = services.BuildServiceProvider();

        // With options in the services the layer follows them live (Enabled may change), so it is added, switched off.
        Assert.IsType<DifyMetadataChatClient>(provider.GetRequiredService<IChatClient>());
    }

    [Fact]
    public async Task UseDifyMetadata_NamedOptionsConfigured_NamedCallFollowsThemWithoutConfigureNull()
    {
        var tenantA = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var tenantB = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var services = new ServiceCollection();
        services.Configure<DifyMetadataOptions>("a", o => o.Source = "source-a");
        services.ConfigureAll<DifyMetadataOptions>(o => o.StorePolicy = DifyStorePolicy.EnableWhenUnset);
        services.AddKeyedChatClient("a", tenantA).UseDifyMetadata("a");
        services.AddKeyedChatClient("b", tenantB).UseDifyMetadata("b");
        await using ServiceProvider provider = services.BuildServiceProvider();

        await SendInSessionAsync(provider.GetRequiredKeyedService<IChatClient>("a"), tenantA);
        await SendInSessionAsync(provider.GetRequiredKeyedService<IChatClient>("b"), tenantB);

        Assert.Equal("source-a", tenantA.LastChat.Metadata["dify_source"]);
        Assert.Equal("dify", tenantB.LastChat.Metadata["dify_source"]);
    }

    [Fact]
    public async Task UseDifyMetadata_ConfigureWithServices_ReachesDependencyInjection()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var services = new ServiceCollection();
        services.AddSingleton(new AppIdHolder("resolved-from-services"));
        services.AddChatClient(inner).UseDifyMetadata((o, sp) =>
        {
            AppIdHolder holder = sp.GetRequiredService<AppIdHolder>();
            o.AppIdResolver = () => holder.AppId;
        });
        await using ServiceProvider provider = services.BuildServiceProvider();

        await provider.GetRequiredService<IChatClient>().GetResponseAsync("hi");

        Assert.Equal("resolved-from-services", inner.LastChat.Metadata["dify_app_id"]);
    }

    [Fact]
    public async Task UseDifyMetadata_ConfigureWithServices_AppliedOnTopOfServicesOptions()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var services = new ServiceCollection();
        services.Configure<DifyMetadataOptions>(o => o.Source = "from-configure");
        services.AddKeyedChatClient("k", inner).UseDifyMetadata(Options.DefaultName, (o, _) => o.Source += "+callback");
        await using ServiceProvider provider = services.BuildServiceProvider();

        await SendInSessionAsync(provider.GetRequiredKeyedService<IChatClient>("k"), inner);

        Assert.Equal("from-configure+callback", inner.LastChat.Metadata["dify_source"]);
    }

    [Fact]
    public void UseDifyMetadata_ConfigureWithServicesDisablesWithoutServicesOptions_AddsNoLayer()
    {
        var inner = new TestChatClient();

        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata((o, _) => o.Enabled = false).Build();

        Assert.Same(inner, client);
    }

    [Fact]
    public void UseDifyMetadata_NullArguments_Throw()
    {
        var builder = new ChatClientBuilder(new TestChatClient());

        Assert.Throws<ArgumentNullException>(() => builder.UseDifyMetadata((Action<DifyMetadataOptions, IServiceProvider>)null!));
        Assert.Throws<ArgumentNullException>(() => builder.UseDifyMetadata((string)null!));
        Assert.Throws<ArgumentNullException>(() => builder.UseDifyMetadata("name", (Action<DifyMetadataOptions, IServiceProvider>)null!));
    }

    private sealed record AppIdHolder(string AppId);
}
