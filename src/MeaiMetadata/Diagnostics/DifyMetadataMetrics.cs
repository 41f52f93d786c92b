using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Diagnostics;

/// <summary>The layer's counters on one meter: requests by outcome and tokens by app, with one bound on distinct app ids
/// for the meter, shared by every client layer that reports on it.</summary>
internal sealed class DifyMetadataMetrics
{
    public const string Attached = "attached";
    public const string NoSession = "no_session";
    public const string Disabled = "disabled";
    public const string StoreDisabled = "store_disabled";
    public const string ResolverFailed = "resolver_failed";
    public const string UnsupportedProvider = "unsupported_provider";
    public const string TaggingFailed = "tagging_failed";

    private static readonly DifyMetadataMetrics s_shared = new(new Meter(DifyMetadataTelemetry.MeterName));

    // One instance per meter, so that the bound on app ids holds per meter whatever the client layers' DI lifetime (a
    // pipeline registered Scoped builds a layer per scope). Weak on the meter: a disposed factory's meters go with it.
    private static readonly ConditionalWeakTable<Meter, DifyMetadataMetrics> s_byMeter = [];

    private readonly ConcurrentDictionary<string, byte> _reportedAppIds = new(StringComparer.Ordinal);
    private int _reportedCount;

    private DifyMetadataMetrics(Meter meter)
    {
        Requests = meter.CreateCounter<long>(DifyMetadataTelemetry.RequestsCounter, "{request}", "Chat requests seen by the MeaiMetadata layer, by outcome.");
        Tokens = meter.CreateCounter<long>(DifyMetadataTelemetry.TokenUsageCounter, "{token}", "Tokens used per app, from the provider's usage report.");
        Cost = meter.CreateCounter<double>(DifyMetadataTelemetry.CostCounter, "USD", "Spend per app in US dollars, from the provider's usage report and the price table.");
        Unpriced = meter.CreateCounter<long>(DifyMetadataTelemetry.UnpricedCounter, "{response}", "Responses whose model has no price, per app and model.");
    }

    public Counter<long> Requests { get; }

    public Counter<long> Tokens { get; }

    public Counter<double> Cost { get; }

    public Counter<long> Unpriced { get; }

    /// <summary>Gets a value indicating whether anything listens to any counter.</summary>
    public bool Enabled => Requests.Enabled || Tokens.Enabled || Cost.Enabled || Unpriced.Enabled;

    /// <summary>Gets the counters on the meter of <paramref name="meterFactory"/>, or on the process-wide meter without one.</summary>
    public static DifyMetadataMetrics For(IMeterFactory? meterFactory) =>
        meterFactory is null ? s_shared : s_byMeter.GetValue(meterFactory.Create(DifyMetadataTelemetry.MeterName), static meter => new DifyMetadataMetrics(meter));

    /// <summary>Counts one request.</summary>
    public void RecordRequest(string outcome, string? appId, int maxAppIds)
    {
        if (!Requests.Enabled)
        {
            return;
        }

        if (appId is null)
        {
            Requests.Add(1, new KeyValuePair<string, object?>(DifyMetadataTelemetry.OutcomeTag, outcome));
        }
        else
        {
            Requests.Add(
                1,
                new KeyValuePair<string, object?>(DifyMetadataTelemetry.OutcomeTag, outcome),
                new KeyValuePair<string, object?>(DifyMetadataTelemetry.AppIdTag, AppIdTagValue(appId, maxAppIds)));
        }
    }

    /// <summary>Counts the tokens of one response.</summary>
    public void RecordUsage(UsageDetails? usage, string appId, string? model, int maxAppIds)
    {
        if (usage is null || !Tokens.Enabled)
        {
            return;
        }

        string tagValue = AppIdTagValue(appId, maxAppIds);
        if (usage.InputTokenCount is long input)
        {
            Tokens.Add(input, Tag(tagValue), new(DifyMetadataTelemetry.TokenTypeTag, "input"), new(DifyMetadataTelemetry.ModelTag, model));
        }

        if (usage.OutputTokenCount is long output)
        {
            Tokens.Add(output, Tag(tagValue), new(DifyMetadataTelemetry.TokenTypeTag, "output"), new(DifyMetadataTelemetry.ModelTag, model));
        }

        static KeyValuePair<string, object?> Tag(string appId) => new(DifyMetadataTelemetry.AppIdTag, appId);
    }

    /// <summary>Records the cost of one response, or counts it as unpriced (warned once per model).</summary>
    public void RecordCost(UsageDetails? usage, string appId, string? model, int maxAppIds, Spend.DifyPriceTable prices, Spend.UnpricedModels unpriced, Microsoft.Extensions.Logging.ILogger logger)
    {
        if (usage is null || !(Cost.Enabled || Unpriced.Enabled))
        {
            return;
        }

        KeyValuePair<string, object?> app = new(DifyMetadataTelemetry.AppIdTag, AppIdTagValue(appId, maxAppIds));
        if (prices.GetCost(model, usage) is decimal cost)
        {
            Cost.Add((double)cost, app, new(DifyMetadataTelemetry.ModelTag, model));
        }
        else
        {
            Unpriced.Add(1, app, new(DifyMetadataTelemetry.ModelTag, model));
            unpriced.Warn(logger, model);
        }
    }

    /// <summary>The app id as a tag value: itself for the first <paramref name="maxAppIds"/> distinct ids on this meter, <c>other</c> after.</summary>
    private string AppIdTagValue(string appId, int maxAppIds)
    {
        if (_reportedAppIds.ContainsKey(appId))
        {
            return appId;
        }

        if (Volatile.Read(ref _reportedCount) >= maxAppIds)
        {
            return DifyMetadataTelemetry.OtherAppId; // full: no lock for the ids beyond the bound
        }

        lock (_reportedAppIds)
        {
            if (_reportedCount < maxAppIds)
            {
                if (_reportedAppIds.TryAdd(appId, 0))
                {
                    Volatile.Write(ref _reportedCount, _reportedCount + 1);
                }

                return appId;
            }
        }

        return _reportedAppIds.ContainsKey(appId) ? appId : DifyMetadataTelemetry.OtherAppId;
    }
}
