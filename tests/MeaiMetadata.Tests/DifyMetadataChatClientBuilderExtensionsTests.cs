using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

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
}
