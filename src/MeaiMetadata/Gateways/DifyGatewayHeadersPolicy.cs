using System.ClientModel.Primitives;

namespace MeaiMetadata.Gateways;

/// <summary>A System.ClientModel pipeline policy that writes the app id of the call being sent as the LLM-gateway headers of
/// <see cref="DifyMetadataOptions.GatewayHeaders"/>; add it with <c>openAIClientOptions.AddDifyMetadataHeaders()</c>.</summary>
/// <remarks>It decides nothing: it writes the headers of the call that a <c>UseDifyMetadata()</c> layer decided and is
/// sending (a header of the same name is replaced); other requests are not changed. This type is thread-safe.</remarks>
public sealed class DifyGatewayHeadersPolicy : PipelinePolicy
{
    /// <inheritdoc />
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        AddHeaders(message);
        ProcessNext(message, pipeline, currentIndex);
    }

    /// <inheritdoc />
    public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        AddHeaders(message);
        return ProcessNextAsync(message, pipeline, currentIndex);
    }

    private static void AddHeaders(PipelineMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        GatewayScope.ApplyTo(message.Request.Headers, static (headers, name) => headers.Remove(name), static (headers, name, value) => headers.Set(name, value));
    }
}

/// <summary>The HTTP handler form of <see cref="DifyGatewayHeadersPolicy"/>, for providers that send with an
/// <see cref="HttpClient"/>: <c>services.AddHttpClient("llm").AddDifyGatewayHeaders()</c>. This type is thread-safe.</summary>
public sealed class DifyGatewayHeadersHandler : DelegatingHandler
{
    /// <summary>Initializes a new instance of the <see cref="DifyGatewayHeadersHandler"/> class (<c>IHttpClientFactory</c> sets the inner handler).</summary>
    public DifyGatewayHeadersHandler()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="DifyGatewayHeadersHandler"/> class over <paramref name="innerHandler"/>.</summary>
    /// <param name="innerHandler">The handler that sends the request.</param>
    public DifyGatewayHeadersHandler(HttpMessageHandler innerHandler)
        : base(innerHandler)
    {
    }

    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        AddHeaders(request);
        return base.SendAsync(request, cancellationToken);
    }

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        AddHeaders(request);
        return base.Send(request, cancellationToken);
    }

    private static void AddHeaders(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        GatewayScope.ApplyTo(request.Headers, static (headers, name) => headers.Remove(name), static (headers, name, value) => headers.TryAddWithoutValidation(name, value));
    }
}
