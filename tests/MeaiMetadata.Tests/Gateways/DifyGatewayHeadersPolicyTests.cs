using System.ClientModel.Primitives;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tests.Gateways;

public class DifyGatewayHeadersPolicyTests
{
    private static async Task<Dictionary<string, string>> SendThroughPipelineAsync(Action<PipelineRequest>? prepare = null)
    {
        var capture = new GatewayHttpStandIn.CapturingHandler();
        var options = new ClientPipelineOptions { Transport = new HttpClientPipelineTransport(new HttpClient(capture)) }.AddDifyMetadataHeaders();
        ClientPipeline pipeline = ClientPipeline.Create(options, [], [], []);
        using PipelineMessage message = pipeline.CreateMessage();
        message.Request.Method = "POST";
        message.Request.Uri = new Uri("http://127.0.0.1/chat");
        prepare?.Invoke(message.Request);
        await pipeline.SendAsync(message);
        return Assert.Single(capture.Requests).Headers;
    }

    private static async Task<Dictionary<string, string>> InLayerAsync(string appId, string entry, Action<PipelineRequest>? prepare = null)
    {
        var options = new DifyMetadataOptions();
        options.GatewayHeaders.Add(entry);
        Dictionary<string, string>? sent = null;
        var inner = new TestChatClient
        {
            GetResponseAsyncCallback = async (_, _, _) =>
            {
                sent = await SendThroughPipelineAsync(prepare);
                return new ChatResponse();
            },
        };
        using (DifySession.Begin(appId))
        {
            await new DifyMetadataChatClient(inner, options).GetResponseAsync("hi");
        }

        return sent!;
    }

    [Fact]
    public async Task OutsideAnyDecidedRequest_ChangesNothing()
    {
        using (DifySession.Begin("app"))
        {
            Dictionary<string, string> headers = await SendThroughPipelineAsync();

            Assert.DoesNotContain(headers.Keys, k => k.StartsWith("Helicone", StringComparison.OrdinalIgnoreCase) || k.StartsWith("x-portkey", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task InADecidedRequest_WritesTheConfiguredHeaders()
    {
        Dictionary<string, string> headers = await InLayerAsync("pipeline-app", "Portkey");

        Assert.Equal("""{"dify_app_id":"pipeline-app","dify_source":"dify"}""", headers["x-portkey-metadata"]);
    }

    [Fact]
    public async Task CallersHeaderOfTheSameName_IsReplaced()
    {
        Dictionary<string, string> headers = await InLayerAsync("real", "Portkey", r => r.Headers.Set("x-portkey-metadata", """{"dify_app_id":"spoof"}"""));

        Assert.Equal("""{"dify_app_id":"real","dify_source":"dify"}""", headers["x-portkey-metadata"]);
    }
}
