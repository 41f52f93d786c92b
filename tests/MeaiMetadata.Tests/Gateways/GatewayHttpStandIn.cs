using System.Runtime.CompilerServices;
using MeaiMetadata.Gateways;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tests.Gateways;

/// <summary>A provider client shaped like MEAI's OpenAI clients: it asks for the raw options when called (for a stream, in the
/// synchronous <c>GetStreamingResponseAsync</c>) and sends its HTTP request through <see cref="DifyGatewayHeadersHandler"/>
/// when awaited or enumerated. Every request it sends is recorded with its headers.</summary>
internal sealed class GatewayHttpStandIn : IChatClient
{
    private readonly HttpClient _http;

    public GatewayHttpStandIn()
    {
        Capture = new CapturingHandler();
        _http = new HttpClient(new DifyGatewayHeadersHandler(Capture));
    }

    public CapturingHandler Capture { get; }

    /// <summary>Sends one unrelated HTTP request (not a chat request) through the same handler.</summary>
    public async Task SendUnrelatedAsync() => (await _http.GetAsync(new Uri("http://127.0.0.1/unrelated"))).Dispose();

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        _ = options?.RawRepresentationFactory?.Invoke(this);
        (await _http.PostAsync(new Uri("http://127.0.0.1/chat"), null, cancellationToken)).Dispose();
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"));
    }

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        _ = options?.RawRepresentationFactory?.Invoke(this);
        return SendStreamingAsync(cancellationToken);
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose() => _http.Dispose();

    private async IAsyncEnumerable<ChatResponseUpdate> SendStreamingAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        (await _http.PostAsync(new Uri("http://127.0.0.1/chat"), null, cancellationToken)).Dispose();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "o");
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "k");
    }

    /// <summary>Records each request's path and headers and answers 200.</summary>
    internal sealed class CapturingHandler : HttpMessageHandler
    {
        public List<(string Path, Dictionary<string, string> Headers)> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (Requests)
            {
                Requests.Add((request.RequestUri!.AbsolutePath, request.Headers.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase)));
            }

            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));
        }
    }
}
