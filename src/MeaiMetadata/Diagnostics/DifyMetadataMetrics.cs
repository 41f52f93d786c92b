using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Diagnostics;

/// <summary>The layer's instruments on one meter: requests by outcome, tokens and cost by app, with one bound on distinct
/// app ids and one "unpriced model" warning per model, shared by every layer that reports on the meter.</summary>
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

    // One instance per meter (weak on the meter: a disposed factory's meters go with it), so the bounds hold per meter
    // whatever the layers' DI lifetime.
    private static readonly ConditionalWeakTable<Meter, DifyMetadataMetrics> s_byMeter = [];

    private readonly ConcurrentDictionary<string, byte> _appIds = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _unpriced = new(StringComparer.OrdinalIgnoreCase);
    private readonly Counter<long> _requests, _tokens, _unpricedResponses;
    private readonly Counter<double> _cost;
    private int _appIdCount, _gatewayWarned;

    private DifyMetadataMetrics(Meter meter)
    {
        _requests = meter.CreateCounter<long>(DifyMetadataTelemetry.RequestsCounter, "{request}", "Chat calls seen by the MeaiMetadata layer, by outcome.");
        _tokens = meter.CreateCounter<long>(DifyMetadataTelemetry.TokenUsageCounter, "{token}", "Tokens used per app, from the provider's usage report.");
        _cost = meter.CreateCounter<double>(DifyMetadataTelemetry.CostCounter, "USD", "Spend per app in US dollars, from the usage and the price table.");
        _unpricedResponses = meter.CreateCounter<long>(DifyMetadataTelemetry.UnpricedCounter, "{response}", "Responses whose model has no price, per app and model.");
    }

    /// <summary>Returns <see langword="true"/> the first time it is asked on this meter: the "gateway headers not sent" warning
    /// is logged once, however many pipelines a scope builds.</summary>
    public bool FirstGatewayWarning() => Interlocked.Exchange(ref _gatewayWarned, 1) == 0;

    /// <summary>Gets a value indicating whether anything listens to any instrument.</summary>
    public bool Enabled => _requests.Enabled || _tokens.Enabled || _cost.Enabled || _unpricedResponses.Enabled;

    /// <summary>Gets the instruments on the meter of <paramref name="meterFactory"/>, or on the process-wide meter without one.</summary>
    public static DifyMetadataMetrics For(IMeterFactory? meterFactory) =>
        meterFactory is null ? s_shared : s_byMeter.GetValue(meterFactory.Create(DifyMetadataTelemetry.MeterName), static meter => new(meter));

    /// <summary>Counts one call by outcome, with its app when known.</summary>
    public void RecordRequest(string outcome, string? appId, DifyMetadataSettings settings)
    {
        if (!_requests.Enabled)
        {
            return;
        }

        KeyValuePair<string, object?> tag = new(DifyMetadataTelemetry.OutcomeTag, outcome);
        if (appId is null)
        {
            _requests.Add(1, tag);
        }
        else
        {
            _requests.Add(1, tag, new(DifyMetadataTelemetry.AppIdTag, AppIdTagValue(appId, settings.MaxMetricAppIds)));
        }
    }

    /// <summary>Records the tokens of one call and their cost, priced by <paramref name="model"/>; an unpriced model is
    /// counted and warned about once per meter.</summary>
    public void RecordSpend(UsageDetails? usage, string appId, string? model, string? requestModel, DifyMetadataSettings settings)
    {
        if (usage is null || !(_tokens.Enabled || _cost.Enabled || _unpricedResponses.Enabled))
        {
            return;
        }

        KeyValuePair<string, object?> app = new(DifyMetadataTelemetry.AppIdTag, AppIdTagValue(appId, settings.MaxMetricAppIds));
        KeyValuePair<string, object?> modelTag = new(DifyMetadataTelemetry.ModelTag, requestModel);
        if (usage.InputTokenCount is long input)
        {
            _tokens.Add(input, app, new(DifyMetadataTelemetry.TokenTypeTag, "input"), modelTag);
        }

        if (usage.OutputTokenCount is long output)
        {
            _tokens.Add(output, app, new(DifyMetadataTelemetry.TokenTypeTag, "output"), modelTag);
        }

        if (settings.Prices.GetCost(model, usage) is decimal cost)
        {
            _cost.Add((double)cost, app, modelTag);
            return;
        }

        _unpricedResponses.Add(1, app, modelTag);
        if (_unpriced.TryAdd(model ?? string.Empty, 0))
        {
            Log.ModelUnpriced(settings.Logger, string.IsNullOrEmpty(model) ? "(none)" : model);
        }
    }

    /// <summary>The app id as a tag value: itself for the first <paramref name="max"/> distinct ids on this meter, <c>other</c> after.</summary>
    private string AppIdTagValue(string appId, int max)
    {
        if (_appIds.ContainsKey(appId))
        {
            return appId;
        }

        if (Volatile.Read(ref _appIdCount) >= max)
        {
            return DifyMetadataTelemetry.OtherAppId; // full: no lock for the ids beyond the bound
        }

        lock (_appIds)
        {
            if (_appIdCount < max && _appIds.TryAdd(appId, 0))
            {
                Volatile.Write(ref _appIdCount, _appIdCount + 1);
            }

            return _appIds.ContainsKey(appId) ? appId : DifyMetadataTelemetry.OtherAppId;
        }
    }
}
