using MeaiMetadata.Gateways;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace MeaiMetadata.Tests.Gateways;

public class DifyGatewayHeadersHandlerTests
{
    private static (IChatClient Client, GatewayHttpStandIn Provider) Pipeline(Action<DifyMetadataOptions>? configure = null)
    {
        var provider = new GatewayHttpStandIn();
        var options = new DifyMetadataOptions();
        options.GatewayHeaders.Add("LiteLLM");
        configure?.Invoke(options);
        return (new DifyMetadataChatClient(provider, options), provider);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DecidedRequest_CarriesTheHeaders(bool streaming)
    {
        (IChatClient client, GatewayHttpStandIn provider) = Pipeline();
        using (DifySession.Begin("app-1"))
        {
            await Send.RequestAsync(client, null, streaming);
        }

        Assert.Equal("dify_app_id:app-1,dify_source:dify", Assert.Single(provider.Capture.Requests).Headers["x-litellm-tags"]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CallAppId_HeadersNameTheCallsApp_NotTheSessions(bool streaming)
    {
        (IChatClient client, GatewayHttpStandIn provider) = Pipeline();
        using (DifySession.Begin("session-app"))
        {
            await Send.RequestAsync(client, new ChatOptions().WithDifyAppId("router-app"), streaming);
        }

        Assert.Equal("dify_app_id:router-app,dify_source:dify", Assert.Single(provider.Capture.Requests).Headers["x-litellm-tags"]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StoreFalse_OrLeaveUnset_StillCarriesTheHeaders(bool streaming)
    {
        (IChatClient client, GatewayHttpStandIn provider) = Pipeline(o => o.StorePolicy = DifyStorePolicy.LeaveUnset);
        using (DifySession.Begin("private-app"))
        {
            await Send.RequestAsync(client, new ChatOptions { AdditionalProperties = new() { ["store"] = false } }, streaming);
            await Send.RequestAsync(client, null, streaming);
        }

        Assert.All(provider.Capture.Requests, r => Assert.Equal("dify_app_id:private-app,dify_source:dify", r.Headers["x-litellm-tags"]));
        Assert.Equal(2, provider.Capture.Requests.Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task NoSession_OrDisabled_NoHeaders(bool streaming)
    {
        (IChatClient client, GatewayHttpStandIn provider) = Pipeline();
        await Send.RequestAsync(client, null, streaming);
        (IChatClient disabled, GatewayHttpStandIn disabledProvider) = Pipeline(o => o.Enabled = false);
        using (DifySession.Begin("app"))
        {
            await Send.RequestAsync(disabled, null, streaming);
        }

        Assert.False(Assert.Single(provider.Capture.Requests).Headers.ContainsKey("x-litellm-tags"));
        Assert.False(Assert.Single(disabledProvider.Capture.Requests).Headers.ContainsKey("x-litellm-tags"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AfterTheRequest_AnUnrelatedCallInTheSameFlowAndSession_CarriesNoHeaders(bool streaming)
    {
        (IChatClient client, GatewayHttpStandIn provider) = Pipeline();
        using (DifySession.Begin("app"))
        {
            // The stand-in asks for the raw options synchronously when the stream is created, as MEAI's OpenAI clients do.
            IAsyncEnumerable<ChatResponseUpdate> stream = client.GetStreamingResponseAsync("hi");
            await provider.SendUnrelatedAsync(); // after the call that made the stream, before it is enumerated
            if (streaming)
            {
                await foreach (ChatResponseUpdate update in stream)
                {
                    await provider.SendUnrelatedAsync(); // while the consumer holds an update
                }
            }
            else
            {
                await client.GetResponseAsync("hi");
            }

            await provider.SendUnrelatedAsync();
        }

        Assert.All(provider.Capture.Requests.Where(r => r.Path == "/unrelated"), r => Assert.False(r.Headers.ContainsKey("x-litellm-tags")));
        Assert.All(provider.Capture.Requests.Where(r => r.Path == "/chat"), r => Assert.True(r.Headers.ContainsKey("x-litellm-tags")));
        Assert.Equal(streaming ? 4 : 2, provider.Capture.Requests.Count(r => r.Path == "/unrelated"));
    }

    [Fact]
    public async Task CallersHeaderOfTheSameName_IsReplaced()
    {
        var capture = new GatewayHttpStandIn.CapturingHandler();
        using var http = new HttpClient(new DifyGatewayHeadersHandler(capture));
        var options = new DifyMetadataOptions();
        options.GatewayHeaders.Add("LiteLLM");
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = async (_, _, ct) =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("http://127.0.0.1/chat"));
                request.Headers.Add("x-litellm-tags", "spoofed-app");
                request.Headers.Add("x-other", "kept");
                (await http.SendAsync(request, ct)).Dispose();
                return new ChatResponse();
            },
        };
        using (DifySession.Begin("real-app"))
        {
            await new DifyMetadataChatClient(inner, options).GetResponseAsync("hi");
        }

        Dictionary<string, string> headers = Assert.Single(capture.Requests).Headers;
        Assert.Equal("dify_app_id:real-app,dify_source:dify", headers["x-litellm-tags"]);
        Assert.Equal("kept", headers["x-other"]);
    }

    [Fact]
    public async Task AddDifyGatewayHeaders_PutsTheHandlerInAFactoryClient()
    {
        var capture = new GatewayHttpStandIn.CapturingHandler();
        var services = new ServiceCollection();
        services.AddHttpClient("llm").AddDifyGatewayHeaders().ConfigurePrimaryHttpMessageHandler(() => capture);
        using ServiceProvider provider = services.BuildServiceProvider();
        HttpClient http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("llm");
        var options = new DifyMetadataOptions();
        options.GatewayHeaders.Add("Helicone");
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = async (_, _, ct) =>
            {
                (await http.PostAsync(new Uri("http://127.0.0.1/chat"), null, ct)).Dispose();
                return new ChatResponse();
            },
        };
        using (DifySession.Begin("factory-app"))
        {
            await new DifyMetadataChatClient(inner, options).GetResponseAsync("hi");
        }

        Assert.Equal("factory-app", Assert.Single(capture.Requests).Headers["Helicone-Property-Dify-App-Id"]);
    }
}
