using System.Net;
using System.Text.Json;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.IntegrationTests.Wire;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.IntegrationTests.FakeOpenAI;

/// <summary>The fake's <c>GET /chat/completions</c> (listChatCompletions), over plain HTTP.</summary>
public sealed class FakeOpenAIServerListTests
{
    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(FakeOpenAIServer server, string query)
    {
        using var http = new HttpClient();
        using HttpResponseMessage response = await http.GetAsync(new Uri(server.BaseAddress, "chat/completions" + query));
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static async Task<FakeOpenAIServer> SeededAsync(int count)
    {
        FakeOpenAIServer server = await FakeOpenAIServer.StartAsync();
        for (int i = 0; i < count; i++)
        {
            server.AddStoredCompletion(new StoredCompletion
            {
                Id = $"c{i}", Created = 1_000 + i, Model = i % 2 == 0 ? "gpt-4o-mini" : "gpt-4o",
                Metadata = new Dictionary<string, string> { ["dify_app_id"] = i % 3 == 0 ? "a" : "b" }, PromptTokens = 5, CompletionTokens = 3,
            });
        }

        return server;
    }

    private static string[] Ids(JsonElement body) => [.. body.GetProperty("data").EnumerateArray().Select(c => c.GetProperty("id").GetString()!)];

    [Fact]
    public async Task DefaultPage_Ascending20_WithTheListShape()
    {
        await using FakeOpenAIServer server = await SeededAsync(25);

        (HttpStatusCode status, JsonElement body) = await GetAsync(server, "");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("list", body.GetProperty("object").GetString());
        Assert.Equal([.. Enumerable.Range(0, 20).Select(i => $"c{i}")], Ids(body));
        Assert.Equal(("c0", "c19", true), (body.GetProperty("first_id").GetString(), body.GetProperty("last_id").GetString(), body.GetProperty("has_more").GetBoolean()));
        JsonElement first = body.GetProperty("data")[0];
        Assert.Equal("chat.completion", first.GetProperty("object").GetString());
        Assert.Equal(1_000, first.GetProperty("created").GetInt64());
        Assert.Equal(5, first.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal("a", first.GetProperty("metadata").GetProperty("dify_app_id").GetString());
    }

    [Fact]
    public async Task Filters_Order_After_Limit()
    {
        await using FakeOpenAIServer server = await SeededAsync(12);

        (_, JsonElement desc) = await GetAsync(server, "?order=desc&limit=3&metadata[dify_app_id]=a");
        (_, JsonElement next) = await GetAsync(server, "?order=desc&limit=3&metadata[dify_app_id]=a&after=c3");
        (_, JsonElement model) = await GetAsync(server, "?model=gpt-4o&metadata[dify_app_id]=a");

        Assert.Equal(["c9", "c6", "c3"], Ids(desc));
        Assert.True(desc.GetProperty("has_more").GetBoolean());
        Assert.Equal(["c0"], Ids(next));
        Assert.False(next.GetProperty("has_more").GetBoolean());
        Assert.Equal(["c3", "c9"], Ids(model));
    }

    [Theory]
    [InlineData("?limit=101", "limit")]
    [InlineData("?limit=0", "limit")]
    [InlineData("?order=newest", "order")]
    [InlineData("?after=nope", "after")]
    public async Task BadQuery_400NamingTheParameter(string query, string param)
    {
        await using FakeOpenAIServer server = await SeededAsync(1);

        (HttpStatusCode status, JsonElement body) = await GetAsync(server, query);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(param, body.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task StoresChatCompletionsWithStoreTrue_Only()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync();
        IChatClient tagged = OpenAIPipeline.Tagged(server, WireApi.ChatCompletions);

        using (DifySession.Begin("app"))
        {
            await OpenAIPipeline.SendAsync(tagged, streaming: false);
            await OpenAIPipeline.SendAsync(tagged, streaming: true);
            await OpenAIPipeline.SendAsync(tagged, streaming: false, new ChatOptions { AdditionalProperties = new() { ["store"] = false } });
        }

        await OpenAIPipeline.SendAsync(tagged, streaming: false); // no session: no store flag

        Assert.Equal(2, server.StoredCompletions.Count);
        Assert.All(server.StoredCompletions, c => Assert.Equal("app", c.Metadata["dify_app_id"]));
    }

    [Fact]
    public async Task UsageOf_ChoosesEachAnswersUsage_AndTheStoredCompletionKeepsIt()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions
        {
            UsageOf = r => r.Stream ? new FakeUsage(1_300, 30, CachedInputTokens: 1_024) : new FakeUsage(700, 20),
        });
        IChatClient tagged = OpenAIPipeline.Tagged(server, WireApi.ChatCompletions);

        ChatResponse plain, streamed;
        using (DifySession.Begin("app"))
        {
            plain = await OpenAIPipeline.SendAsync(tagged, streaming: false);
            streamed = await OpenAIPipeline.SendAsync(tagged, streaming: true);
        }

        Assert.Equal((700L, 0L, 20L), (plain.Usage!.InputTokenCount!.Value, plain.Usage.CachedInputTokenCount ?? 0, plain.Usage.OutputTokenCount!.Value));
        Assert.Equal((1_300L, 1_024L, 30L), (streamed.Usage!.InputTokenCount!.Value, streamed.Usage.CachedInputTokenCount!.Value, streamed.Usage.OutputTokenCount!.Value));
        Assert.Equal([(700, 0, 20), (1_300, 1_024, 30)], server.StoredCompletions.Select(c => (c.PromptTokens, c.CachedTokens, c.CompletionTokens)));
    }
}
