namespace MeaiMetadata;

/// <summary>The names under which this library reports metrics and trace tags.</summary>
/// <remarks>
/// Subscribe with OpenTelemetry (<c>.WithMetrics(m =&gt; m.AddMeter(DifyMetadataTelemetry.MeterName))</c>) or watch with
/// <c>dotnet-counters monitor --counters MeaiMetadata</c>.
/// </remarks>
public static class DifyMetadataTelemetry
{
    /// <summary>The name of the meter: <c>MeaiMetadata</c>.</summary>
    public const string MeterName = "MeaiMetadata";

    /// <summary>The counter of requests seen by the layer, tagged with <see cref="OutcomeTag"/> and, when known, <see cref="AppIdTag"/>.</summary>
    public const string RequestsCounter = "dify.metadata.requests";

    /// <summary>The counter of tokens per app, tagged with <see cref="AppIdTag"/>, <see cref="TokenTypeTag"/> and <see cref="ModelTag"/>.</summary>
    public const string TokenUsageCounter = "dify.app.token.usage";

    /// <summary>The counter of spend per app in US dollars (<c>dify.app.cost</c>, unit <c>USD</c>), tagged with <see cref="AppIdTag"/>
    /// and <see cref="ModelTag"/>; computed from the usage and the price table (<see cref="Spend.DifyPriceTable"/>).</summary>
    public const string CostCounter = "dify.app.cost";

    /// <summary>The counter of responses whose model has no price (<c>dify.app.cost.unpriced</c>), tagged with <see cref="AppIdTag"/> and <see cref="ModelTag"/>.</summary>
    public const string UnpricedCounter = "dify.app.cost.unpriced";

    /// <summary>The tag (metrics and traces) and the W3C Baggage item that carry the app id: <c>dify.app_id</c>.</summary>
    public const string AppIdTag = "dify.app_id";

    /// <summary>The tag that says what the wire of a model request got: <c>attached</c>, <c>no_session</c>, <c>disabled</c>,
    /// <c>store_disabled</c>, <c>resolver_failed</c>, <c>unsupported_provider</c> or <c>tagging_failed</c>; one per model
    /// request sent.</summary>
    public const string OutcomeTag = "outcome";

    /// <summary>The OpenTelemetry GenAI tag for the token type, <c>input</c> or <c>output</c>.</summary>
    public const string TokenTypeTag = "gen_ai.token.type";

    /// <summary>The OpenTelemetry GenAI tag for the requested model.</summary>
    public const string ModelTag = "gen_ai.request.model";

    /// <summary>The tag value that stands for every app id beyond <see cref="DifyMetadataOptions.MaxMetricAppIds"/>.</summary>
    internal const string OtherAppId = "other";
}
