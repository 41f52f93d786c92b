using MeaiMetadata.Budgets;
using MeaiMetadata.Providers;
using MeaiMetadata.Spend;

namespace MeaiMetadata;

/// <summary>What the operator sets for <see cref="DifyMetadataChatClient"/>; bound from the configuration section
/// <c>DifyMetadata</c> by <c>AddDifyMetadata</c>.</summary>
public sealed class DifyMetadataOptions
{
    /// <summary>The default source marker, <c>dify</c>.</summary>
    internal const string DefaultSource = "dify";

    /// <summary>Gets or sets a value indicating whether requests are tagged; read live from configuration.</summary>
    /// <value>The default value is <see langword="true"/>: adding the layer is the opt-in.</value>
    public bool Enabled { get; set; } = true;

    /// <summary>Gets or sets a function that returns the app id of the current request, asked when the call names no app and
    /// no <see cref="DifySession"/> is open. <see langword="null"/>, empty or white space: untagged; an exception: untagged,
    /// with a warning.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public Func<string?>? AppIdResolver { get; set; }

    /// <summary>Gets or sets the value sent as <c>dify_source</c> (at most 512 characters); <see langword="null"/> or empty
    /// sends no <c>dify_source</c>.</summary>
    /// <value>The default value is <c>dify</c>.</value>
    public string? Source { get; set; } = DefaultSource;

    /// <summary>Gets or sets a value indicating whether the merged metadata and the store flag are also written to
    /// <c>ChatOptions.AdditionalProperties</c> (keys <c>metadata</c> and <c>store</c>) for other layers and providers.</summary>
    /// <remarks>Switch it off for providers that copy every additional property into the request body (Amazon Bedrock).</remarks>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool AdditionalPropertiesEnabled { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether, when nothing else names the app, the app id is read from the W3C
    /// Baggage item <c>dify.app_id</c> of <see cref="System.Diagnostics.Activity.Current"/>.</summary>
    /// <remarks>Any caller can send baggage: turn this on only behind an edge that strips <c>dify.app_id</c> from untrusted
    /// callers (<c>UseDifyBaggageTrust</c> in MeaiMetadata.AspNetCore).</remarks>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool AppIdFromBaggage { get; set; }

    /// <summary>Gets or sets how many distinct app ids the metrics report as tag values; the others are reported as <c>other</c>.</summary>
    /// <value>The default value is 1,000.</value>
    public int MaxMetricAppIds { get; set; } = 1_000;

    /// <summary>Gets or sets what happens to OpenAI's <c>store</c> flag when the caller has not set it.</summary>
    /// <remarks><c>store: true</c> keeps prompts and outputs in the OpenAI account (Stored Completions) and is required for
    /// metadata on Chat Completions. An explicit <c>store: false</c> is always respected.</remarks>
    /// <value>The default value is <see cref="DifyStorePolicy.EnableWhenUnset"/>.</value>
    public DifyStorePolicy StorePolicy { get; set; } = DifyStorePolicy.EnableWhenUnset;

    /// <summary>Gets the provider mappings, tried in order; not bound from configuration.</summary>
    /// <value>The default value holds <see cref="DifyProviderMapping.OpenAIChatCompletions"/> and
    /// <see cref="DifyProviderMapping.OpenAIResponses"/>.</value>
    public IList<DifyProviderMapping> ProviderMappings { get; private set; } =
        [DifyProviderMapping.OpenAIChatCompletions, DifyProviderMapping.OpenAIResponses];

    /// <summary>Gets the LLM-gateway headers that carry the app id: presets (<c>Helicone</c>, <c>Portkey</c>,
    /// <c>Cloudflare</c>, <c>LiteLLM</c>) or custom entries <c>"Header-Name: text|json|tags"</c>. They are written by
    /// <c>AddDifyMetadataHeaders()</c> on the OpenAI client options or <c>AddDifyGatewayHeaders()</c> on an HttpClient.</summary>
    /// <value>The default value is empty.</value>
    public IList<string> GatewayHeaders { get; private set; } = [];

    /// <summary>Gets the header-name prefixes a gateway reads attribution from (for example <c>Helicone-Property-</c>): a
    /// custom entry of <see cref="GatewayHeaders"/> must start with one of them, and never names a control header.</summary>
    /// <value>The default value is empty: presets only.</value>
    public IList<string> GatewayHeaderPrefixes { get; private set; } = [];

    /// <summary>Gets the prices per model id in US dollars per million tokens, over the built-in prices
    /// (<see cref="DifyPriceTable.BuiltInSource"/>).</summary>
    /// <value>The default value is empty.</value>
    public IDictionary<string, ModelPrice> Prices { get; private set; } = new Dictionary<string, ModelPrice>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets names mapped to the model id they are priced as (for example an Azure OpenAI deployment name).</summary>
    /// <value>The default value is empty.</value>
    public IDictionary<string, string> ModelAliases { get; private set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets the spend limits per app (<c>DifyMetadata:Budgets</c>), enforced by the layer (docs/budgets.md).</summary>
    /// <value>The default value holds no budget: no request is checked.</value>
    public DifyBudgetOptions Budgets { get; private set; } = new();

    /// <summary>Returns a copy whose changes do not reach this instance.</summary>
    internal DifyMetadataOptions Clone()
    {
        var clone = (DifyMetadataOptions)MemberwiseClone();
        clone.ProviderMappings = [.. ProviderMappings];
        clone.GatewayHeaders = [.. GatewayHeaders];
        clone.GatewayHeaderPrefixes = [.. GatewayHeaderPrefixes];
        clone.Prices = Prices.ToDictionary(p => p.Key, p => p.Value?.Clone()!, StringComparer.OrdinalIgnoreCase);
        clone.ModelAliases = new Dictionary<string, string>(ModelAliases, StringComparer.OrdinalIgnoreCase);
        clone.Budgets = Budgets.Clone();
        return clone;
    }
}
