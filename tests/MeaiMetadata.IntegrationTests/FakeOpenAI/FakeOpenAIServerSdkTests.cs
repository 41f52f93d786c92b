using System.ClientModel;
using System.ClientModel.Primitives;
using MeaiMetadata.FakeOpenAI;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Responses;
using ChatFinishReason = Microsoft.Extensions.AI.ChatFinishReason;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

#pragma warning disable OPENAI001 // ResponsesClient, CreateResponseOptions and AsIChatClient(ResponsesClient) are experimental.

namespace MeaiMetadata.IntegrationTests.FakeOpenAI;

/// <summary>Smoke tests: the official OpenAI SDK and its Microsoft.Extensions.AI adapters accept the fake's answers (no middleware).</summary>
public sealed class FakeOpenAIServerSdkTests : IClassFixture<FakeOpenAIServerFixture>
{
    private const string Model = "gpt-4o-mini";

    private readonly FakeOpenAIServer _server;

    public FakeOpenAIServerSdkTests(FakeOpenAIServerFixture fixture)
    {
        _server = fixture.Server;
        _server.Clear();
    }

    public enum Api
    {
        ChatCompletions,
        Responses,
    }

    [Theory]
    [InlineData(Api.ChatCompletions, false)]
    [InlineData(Api.ChatCompletions, true)]
    [InlineData(Api.Responses, false)]
    [InlineData(Api.Responses, true)]
    public async Task IChatClient_GetResponse_ReturnsOkAndUsage(Api api, bool streaming)
    {
        IChatClient client = CreateClient(_server, api);

        ChatResponse response = await GetResponseAsync(client, streaming, [new(ChatRole.User, "hello fake")]);

        Assert.Equal("ok", response.Text);
        Assert.NotNull(response.Usage);
        Assert.Equal((5L, 3L, 8L), (response.Usage.InputTokenCount, response.Usage.OutputTokenCount, response.Usage.TotalTokenCount));
        // MEAI 10.11 leaves FinishReason null on non-streaming Responses (it only maps incomplete_details.reason there).
        Assert.Equal(api == Api.Responses && !streaming ? null : ChatFinishReason.Stop, response.FinishReason);
        RecordedRequest recorded = Assert.Single(_server.Requests);
        Assert.Equal(
            (api == Api.ChatCompletions ? OpenAIApi.ChatCompletions : OpenAIApi.Responses, streaming, Model, "hello fake", 200),
            (recorded.Api, recorded.Stream, recorded.Model, recorded.LastUserText, recorded.StatusCode));
    }

    [Theory]
    [InlineData(Api.ChatCompletions, false)]
    [InlineData(Api.ChatCompletions, true)]
    [InlineData(Api.Responses, false)]
    [InlineData(Api.Responses, true)]
    public async Task FunctionInvocation_ToolRoundTrip_EndsWithOkAfterTwoRequests(Api api, bool streaming)
    {
        int invocations = 0;
        AIFunction tool = AIFunctionFactory.Create(() =>
        {
            invocations++;
            return "sunny";
        }, "get_weather");
        IChatClient client = new ChatClientBuilder(CreateClient(_server, api)).UseFunctionInvocation().Build();

        ChatResponse response = await GetResponseAsync(
            client, streaming, [new(ChatRole.User, "weather?")], new ChatOptions { Tools = [tool] });

        Assert.Equal("ok", response.Text);
        Assert.Equal(1, invocations);
        Assert.Contains(response.Messages, m => m.Contents.OfType<FunctionCallContent>().Any(c => c.Name == "get_weather" && c.CallId == "call_1"));
        Assert.Contains(response.Messages, m => m.Contents.OfType<FunctionResultContent>().Any(r => r.CallId == "call_1"));
        IReadOnlyList<RecordedRequest> requests = _server.Requests;
        Assert.Equal(2, requests.Count);
        Assert.All(requests, r => Assert.Equal((200, streaming), (r.StatusCode, r.Stream)));
        Assert.Contains("get_weather", requests[0].Body, StringComparison.Ordinal);
        Assert.Contains("sunny", requests[1].Body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ChatCompletionsClient_RawRepresentationFactoryMetadataWithStore_ReachesTheWire(bool streaming)
    {
        IChatClient client = CreateClient(_server, Api.ChatCompletions);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions { StoredOutputEnabled = true };
                raw.Metadata["app_id"] = "app-1";
                raw.Metadata["source"] = "tests";
                return raw;
            },
        };

        ChatResponse response = await GetResponseAsync(client, streaming, [new(ChatRole.User, "hi")], options);

        Assert.Equal("ok", response.Text);
        RecordedRequest recorded = Assert.Single(_server.Requests);
        Assert.Equal(new Dictionary<string, string> { ["app_id"] = "app-1", ["source"] = "tests" }, recorded.Metadata);
        Assert.True(recorded.Store);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ChatCompletionsClient_RawRepresentationFactoryMetadataWithoutStore_ThrowsClientResultException400(bool streaming)
    {
        IChatClient client = CreateClient(_server, Api.ChatCompletions);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions();
                raw.Metadata["app_id"] = "app-1";
                return raw;
            },
        };

        ClientResultException exception = await Assert.ThrowsAsync<ClientResultException>(
            () => GetResponseAsync(client, streaming, [new(ChatRole.User, "hi")], options));

        Assert.Equal(400, exception.Status);
        Assert.Contains("The 'metadata' parameter is only allowed when 'store' is enabled.", exception.Message, StringComparison.Ordinal);
        RecordedRequest recorded = Assert.Single(_server.Requests);
        Assert.Equal((400, (bool?)null, "app-1"), (recorded.StatusCode, recorded.Store, recorded.Metadata!["app_id"]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ResponsesClient_RawRepresentationFactoryMetadataWithoutStore_ReachesTheWireAndIsEchoed(bool streaming)
    {
        IChatClient client = CreateClient(_server, Api.Responses);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                var raw = new CreateResponseOptions();
                raw.Metadata["app_id"] = "app-1";
                return raw;
            },
        };

        ChatResponse response = await GetResponseAsync(client, streaming, [new(ChatRole.User, "hi")], options);

        Assert.Equal("ok", response.Text);
        RecordedRequest recorded = Assert.Single(_server.Requests);
        Assert.Equal(new Dictionary<string, string> { ["app_id"] = "app-1" }, recorded.Metadata);
        Assert.Null(recorded.Store);
        if (!streaming)
        {
            ResponseResult result = Assert.IsType<ResponseResult>(response.RawRepresentation);
            Assert.Equal("app-1", result.Metadata["app_id"]);
        }
    }

    [Fact]
    public async Task ChatCompletionsClient_LoneSurrogateInMetadata_ReachesTheWireAsReplacementCharacter()
    {
        // A .NET truncation that splits a surrogate pair does not cause a 400: the SDK's JSON writer replaces the lone half with U+FFFD.
        IChatClient client = CreateClient(_server, Api.ChatCompletions);
        var options = new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions { StoredOutputEnabled = true };
                raw.Metadata["app_id"] = "ab\ud83d";
                return raw;
            },
        };

        ChatResponse response = await client.GetResponseAsync([new(ChatRole.User, "hi")], options);

        Assert.Equal("ok", response.Text);
        RecordedRequest recorded = Assert.Single(_server.Requests);
        Assert.Equal("ab\uFFFD", recorded.Metadata!["app_id"]);
        Assert.Contains("ab\\uFFFD", recorded.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenAIClient_ApiKeyCredential_SendsBearerHeaderTheFakeAccepts()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { ApiKey = "k" });

        ChatResponse response = await CreateClient(server, Api.Responses).GetResponseAsync("hi");

        Assert.Equal("ok", response.Text);
        RecordedRequest recorded = Assert.Single(server.Requests);
        Assert.Equal(("Bearer k", (string?)null), (recorded.AuthorizationHeader, recorded.ApiKeyHeader));
    }

    [Fact]
    public async Task OpenAIClient_WrongApiKey_ThrowsClientResultException401()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { ApiKey = "other" });

        ClientResultException exception = await Assert.ThrowsAsync<ClientResultException>(
            () => CreateClient(server, Api.ChatCompletions, apiKey: "wrong").GetResponseAsync("hi"));

        Assert.Equal(401, exception.Status);
        Assert.Equal(401, Assert.Single(server.Requests).StatusCode);
    }

    [Theory]
    [InlineData(Api.ChatCompletions, "/openai/v1/chat/completions")]
    [InlineData(Api.Responses, "/openai/v1/responses")]
    public async Task OpenAIClient_AzureV1PathBaseEndpoint_ReachesThePathBase(Api api, string expectedPath)
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { PathBase = "/openai/v1" });

        ChatResponse response = await CreateClient(server, api).GetResponseAsync("hi");

        Assert.Equal("ok", response.Text);
        Assert.Equal(expectedPath, Assert.Single(server.Requests).Path);
    }

    private static IChatClient CreateClient(FakeOpenAIServer server, Api api, string apiKey = "k")
    {
        var openAI = new OpenAIClient(
            new ApiKeyCredential(apiKey),
            new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });
        return api == Api.ChatCompletions
            ? openAI.GetChatClient(Model).AsIChatClient()
            : openAI.GetResponsesClient().AsIChatClient(Model);
    }

    private static async Task<ChatResponse> GetResponseAsync(IChatClient client, bool streaming, List<ChatMessage> messages, ChatOptions? options = null) =>
        streaming
            ? await client.GetStreamingResponseAsync(messages, options).ToChatResponseAsync()
            : await client.GetResponseAsync(messages, options);
}
