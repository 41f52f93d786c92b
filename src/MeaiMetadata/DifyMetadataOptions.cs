namespace MeaiMetadata;

/// <summary>What the operator sets for <see cref="DifyMetadataChatClient"/>.</summary>
public sealed class DifyMetadataOptions
{
    /// <summary>The default source marker, <c>dify</c>.</summary>
    public const string DefaultSource = "dify";

    /// <summary>Gets or sets a value indicating whether requests are tagged.</summary>
    /// <value>The default value is <see langword="true"/>: adding the middleware is the opt-in.</value>
    public bool Enabled { get; set; } = true;

    /// <summary>Gets or sets a function that returns the app id of the current request.</summary>
    /// <remarks>
    /// Asked once per request made outside any <see cref="DifySession"/> (a session always wins: it is opened around the
    /// very call), on the caller's thread; when set, it replaces the baggage item as the source. Returning
    /// <see langword="null"/> or an empty string leaves the request untagged; an exception thrown by it is logged as a
    /// warning and the request goes out untagged.
    /// </remarks>
    /// <value>The default value is <see langword="null"/>: outside a session, the baggage item <c>dify.app_id</c> is used.</value>
    public Func<string?>? AppIdResolver { get; set; }

    /// <summary>Gets or sets the value sent as <c>dify_source</c>.</summary>
    /// <remarks>At most 512 characters. <see langword="null"/> or empty sends no <c>dify_source</c> key.</remarks>
    /// <value>The default value is <c>dify</c>.</value>
    public string? Source { get; set; } = DefaultSource;

    /// <summary>Gets or sets a value indicating whether the merged metadata and the store flag are also written to
    /// <see cref="Microsoft.Extensions.AI.ChatOptions.AdditionalProperties"/> (keys <c>metadata</c> and <c>store</c>).</summary>
    /// <remarks>
    /// That channel is provider-neutral: other middleware and other providers can read it. The OpenAI client does not send
    /// it; the OpenAI wire is reached through <see cref="Microsoft.Extensions.AI.ChatOptions.RawRepresentationFactory"/> either way.
    /// So a layer whose inner client is Microsoft.Extensions.AI.OpenAI's own client (the layer is innermost), which reads
    /// neither entry, writes them only to correct entries the caller brought. Switch it off for providers that copy every
    /// additional property into the request body (Amazon Bedrock does).
    /// </remarks>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool AdditionalPropertiesEnabled { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether, outside any <see cref="DifySession"/>, the app id is read from the
    /// W3C Baggage item <c>dify.app_id</c> of <see cref="System.Diagnostics.Activity.Current"/>.</summary>
    /// <remarks>
    /// This lets a gateway that sets the baggage item tag the LLM calls of every downstream service through OpenTelemetry's
    /// own propagation. A session (or <see cref="AppIdResolver"/>) always wins over baggage. Baggage arrives in an HTTP
    /// header that any client can send: the edge (gateway / reverse proxy) must strip <c>dify.app_id</c> from the
    /// <c>baggage</c> header of untrusted callers, and a service that takes requests from the internet directly should
    /// set this to <see langword="false"/>. Reading baggage allocates nothing: the item is found without
    /// <see cref="System.Diagnostics.Activity.Baggage"/>'s iterator, by a reader built once per process on the first read
    /// (about 36 KB, once). Where that reader cannot be built (Native AOT), a read costs the iterator's 64 B on requests
    /// without a session whose activity carries any baggage.
    /// </remarks>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool AppIdFromBaggage { get; set; } = true;

    /// <summary>Gets or sets how many distinct app ids the metrics report as tag values; the others are reported as <c>other</c>.</summary>
    /// <remarks>A guard against unbounded metric cardinality. The count is kept per meter (the meter of the
    /// <c>IMeterFactory</c> in DI, or the process-wide one), so it holds whatever the client layers' lifetime.</remarks>
    /// <value>The default value is 1,000.</value>
    public int MaxMetricAppIds { get; set; } = 1_000;

    /// <summary>Gets or sets what happens to OpenAI's <c>store</c> flag when the caller has not set it.</summary>
    /// <remarks>
    /// <c>store: true</c> keeps prompts and outputs in the OpenAI account (Stored Completions) and is required for metadata
    /// on Chat Completions. <see cref="DifyStorePolicy.LeaveUnset"/> never turns it on, at the price of untagged Chat
    /// Completions requests. An explicit <c>store: false</c> is always respected.
    /// </remarks>
    /// <value>The default value is <see cref="DifyStorePolicy.EnableWhenUnset"/>.</value>
    public DifyStorePolicy StorePolicy { get; set; } = DifyStorePolicy.EnableWhenUnset;

    /// <summary>Gets the provider mappings, tried in order: the first that applies to a request's raw options tags them.</summary>
    /// <remarks>
    /// Add a <see cref="Providers.DifyProviderMapping"/> to tag another provider's raw request options (for example Amazon
    /// Bedrock's <c>ConverseRequest.RequestMetadata</c> or Google's <c>GenerateContentConfig.Labels</c>; the README has
    /// both). Not bound from configuration.
    /// </remarks>
    /// <value>The default value holds <see cref="Providers.DifyProviderMapping.OpenAIChatCompletions"/> and
    /// <see cref="Providers.DifyProviderMapping.OpenAIResponses"/>.</value>
    public IList<Providers.DifyProviderMapping> ProviderMappings { get; private set; } =
        [Providers.DifyProviderMapping.OpenAIChatCompletions, Providers.DifyProviderMapping.OpenAIResponses];

    /// <summary>Gets the LLM-gateway headers that carry the app id of every decided request, in order: preset names
    /// (<see cref="Gateways.DifyGatewayPresets.Helicone"/>, <see cref="Gateways.DifyGatewayPresets.Portkey"/>,
    /// <see cref="Gateways.DifyGatewayPresets.Cloudflare"/>, <see cref="Gateways.DifyGatewayPresets.LiteLLM"/>, any case) or
    /// custom entries <c>"Header-Name: text|json|tags"</c> (see <see cref="Gateways.DifyGatewayHeaderFormat"/>).</summary>
    /// <remarks>
    /// Bound from configuration as <c>"GatewayHeaders": ["Helicone", "Portkey", "Cloudflare", "LiteLLM"]</c>. The headers are
    /// written by <see cref="Gateways.DifyGatewayHeadersPolicy"/> (<c>openAIClientOptions.AddDifyMetadataHeaders()</c>) or
    /// <see cref="Gateways.DifyGatewayHeadersHandler"/> on the request's HTTP call, whenever the request's decision has an app
    /// (also with <c>store: false</c>). An unknown preset, an invalid header name, a header that carries credentials or
    /// framing (<c>Authorization</c>, <c>Content-*</c>, ...) or two entries writing the same header are invalid options.
    /// </remarks>
    /// <value>The default value is empty: no gateway headers.</value>
    public IList<string> GatewayHeaders { get; private set; } = [];
    /// <summary>Gets the prices per model id, in US dollars per million tokens, that override or extend the built-in prices
    /// of OpenAI's chat models (<see cref="Spend.DifyPriceTable.BuiltInSource"/>); bound from <c>DifyMetadata:Prices</c>.</summary>
    /// <remarks>Ids compare case-insensitively; a dated snapshot without a price of its own takes its family's
    /// (<c>gpt-4o-mini-2024-07-18</c> → <c>gpt-4o-mini</c>). They price the <c>dify.app.cost</c> counter; the spend report
    /// tool (<c>meai-spend --config appsettings.json</c>) reads the same section.</remarks>
    /// <value>The default value is empty: the built-in prices alone.</value>
    public IDictionary<string, Spend.ModelPrice> Prices { get; private set; } = new Dictionary<string, Spend.ModelPrice>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets names mapped to the model id they are priced as, for example an Azure OpenAI deployment name
    /// (<c>"ModelAliases": { "support-prod": "gpt-4o-mini" }</c>); bound from <c>DifyMetadata:ModelAliases</c>.</summary>
    /// <value>The default value is empty.</value>
    public IDictionary<string, string> ModelAliases { get; private set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets or sets why binding these options from configuration failed (a value of the wrong type), or
    /// <see langword="null"/>; such options are invalid.</summary>
    internal string? ConfigurationError { get; set; }

    /// <summary>Gets or sets, on options whose change was refused (and logged) by the validation of <c>AddDifyMetadata</c>,
    /// the last valid options of the same name, which stay in force; otherwise <see langword="null"/>.</summary>
    internal DifyMetadataOptions? RefusedFor { get; set; }

    /// <summary>Returns a copy whose changes do not reach this instance.</summary>
    internal DifyMetadataOptions Clone()
    {
        var clone = (DifyMetadataOptions)MemberwiseClone();
        clone.ProviderMappings = [.. ProviderMappings];
        clone.GatewayHeaders = [.. GatewayHeaders];
        clone.Prices = Prices.ToDictionary(p => p.Key, p => p.Value?.Clone()!, StringComparer.OrdinalIgnoreCase);
        clone.ModelAliases = new Dictionary<string, string>(ModelAliases, StringComparer.OrdinalIgnoreCase);
        return clone;
    }
}
