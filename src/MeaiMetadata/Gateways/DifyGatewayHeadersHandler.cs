namespace MeaiMetadata.Gateways;

/// <summary>An HTTP handler that writes the app id of the request being sent as LLM-gateway headers, for HTTP-based providers
/// other than the OpenAI SDK (whose clients take <see cref="DifyGatewayHeadersPolicy"/>).</summary>
/// <remarks>
/// <para>
/// Put it in the <see cref="HttpClient"/> that the provider's <c>IChatClient</c> sends with: <c>services.AddHttpClient("llm").AddDifyGatewayHeaders()</c>,
/// or <c>new HttpClient(new DifyGatewayHeadersHandler(new SocketsHttpHandler()))</c>. Like the policy it decides nothing: it
/// reads the <see cref="DifyRequestDecision"/> that <see cref="DifyMetadataChatClient"/> made for the request being sent, and
/// writes the headers chosen in <see cref="DifyMetadataOptions.GatewayHeaders"/> whenever that decision has an app; requests no
/// layer decided are not changed. A header of the same name already on the request is replaced.
/// </para>
/// <para>This type is thread-safe.</para>
/// </remarks>
public sealed class DifyGatewayHeadersHandler : DelegatingHandler
{
    /// <summary>Initializes a new instance of the <see cref="DifyGatewayHeadersHandler"/> class, for a pipeline that sets the inner handler (<c>IHttpClientFactory</c>).</summary>
    public DifyGatewayHeadersHandler()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="DifyGatewayHeadersHandler"/> class over <paramref name="innerHandler"/>.</summary>
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
        GatewayScope.Current?.ApplyTo(
            request.Headers,
            static (headers, name) => headers.Remove(name),
            static (headers, name, value) => headers.TryAddWithoutValidation(name, value));
    }
}
