using System.ClientModel;
using System.ClientModel.Primitives;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.IntegrationTests.Wire;
using MeaiMetadata.Providers;
using Microsoft.Extensions.AI;
using OpenAI;

#pragma warning disable OPENAI001 // AsIChatClient(ResponsesClient) is experimental.

namespace MeaiMetadata.IntegrationTests.Providers;

/// <summary>One pipeline definition, four providers: OpenAI Chat Completions, Responses, Azure OpenAI (v1) and a registered custom one.</summary>
public sealed class ProviderMatrixTests : IAsyncLifetime
{
    private const string AzureKey = "azure-resource-key";

    private FakeOpenAIServer _openAI = null!;
    private FakeOpenAIServer _azure = null!;

    public async Task InitializeAsync()
    {
        _openAI = await FakeOpenAIServer.StartAsync();
        _azure = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { PathBase = "/openai/v1", ApiKey = AzureKey });
    }

    public async Task DisposeAsync()
    {
        await _openAI.DisposeAsync();
        await _azure.DisposeAsync();
    }

    // The single pipeline definition an application would share across providers.
    private static IChatClient Pipeline(IChatClient provider) =>
        new ChatClientBuilder(provider)
            .UseDifyMetadata(o => o.ProviderMappings.Add(new CustomProviderMapping()))
            .Build();

    /// <summary>Azure OpenAI's v1 endpoint (https://RESOURCE.openai.azure.com/openai/v1/) through the plain OpenAI client, keyed by the api-key header.</summary>
    private OpenAIClient AzureClient() => new(
        ApiKeyAuthenticationPolicy.CreateHeaderApiKeyPolicy(new ApiKeyCredential(AzureKey), "api-key"),
        new OpenAIClientOptions { Endpoint = _azure.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task OnePipeline_TagsEveryProvider(bool streaming)
    {
        var custom = new CustomProviderClient();
        IChatClient[] pipelines =
        [
            Pipeline(OpenAIPipeline.ProviderClient(_openAI, WireApi.ChatCompletions)),
            Pipeline(OpenAIPipeline.ProviderClient(_openAI, WireApi.Responses)),
            Pipeline(AzureClient().GetChatClient("my-deployment").AsIChatClient()),
            Pipeline(AzureClient().GetResponsesClient().AsIChatClient("my-deployment")),
            Pipeline(custom),
        ];

        using (DifySession.Begin("matrix-app"))
        {
            foreach (IChatClient pipeline in pipelines)
            {
                Assert.Equal("ok", (await OpenAIPipeline.SendAsync(pipeline, streaming)).Text);
            }
        }

        var expected = new Dictionary<string, string> { ["dify_app_id"] = "matrix-app", ["dify_source"] = "dify" };
        Assert.All(_openAI.Requests.Concat(_azure.Requests), r =>
        {
            Assert.Equal(200, r.StatusCode);
            Assert.Equal(expected, r.Metadata);
            Assert.True(r.Store);
        });
        Assert.Equal(2, _openAI.Requests.Count);
        Assert.Equal(2, _azure.Requests.Count);
        Assert.Equal(expected, custom.LastRaw!.Tags);
        Assert.Equal(streaming, custom.LastRaw.Streaming);
    }

    [Fact]
    public async Task Azure_RequestsGoToTheV1PathWithTheApiKeyHeader()
    {
        using (DifySession.Begin("azure-app"))
        {
            await OpenAIPipeline.SendAsync(Pipeline(AzureClient().GetChatClient("my-deployment").AsIChatClient()), streaming: false);
        }

        RecordedRequest request = Assert.Single(_azure.Requests);
        Assert.Equal("/openai/v1/chat/completions", request.Path);
        Assert.Equal(AzureKey, request.ApiKeyHeader);
        Assert.Null(request.AuthorizationHeader);
        Assert.Equal("my-deployment", request.Model);
        Assert.Equal("azure-app", request.Metadata!["dify_app_id"]);
    }

    /// <summary>A provider whose raw options are not OpenAI's: one type per call shape, tags in a dictionary made on demand.</summary>
    private sealed class CustomRawOptions(bool streaming)
    {
        public bool Streaming { get; } = streaming;

        public Dictionary<string, string>? Tags { get; set; }
    }

    private sealed class CustomProviderMapping : DifyProviderMapping
    {
        public override string Name => "custom";

        public override bool CanApply(object rawOptions) => rawOptions is CustomRawOptions;

        public override bool CanCreateFor(IChatClient providerClient, bool streaming) => providerClient is CustomProviderClient;

        public override object CreateRawOptions(IChatClient providerClient, bool streaming) => new CustomRawOptions(streaming);

        public override bool Apply(object rawOptions, DifyRequestDecision decision) =>
            BedrockRequestMetadata.Merge(((CustomRawOptions)rawOptions).Tags ??= [], decision);
    }

    private sealed class CustomProviderClient : IChatClient
    {
        public CustomRawOptions? LastRaw { get; private set; }

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            LastRaw = options?.RawRepresentationFactory?.Invoke(this) as CustomRawOptions;
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
            IEnumerable<ChatMessage> messages, ChatOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            LastRaw = options?.RawRepresentationFactory?.Invoke(this) as CustomRawOptions;
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, "ok");
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => serviceType.IsInstanceOfType(this) ? this : null;

        public void Dispose()
        {
        }
    }
}
