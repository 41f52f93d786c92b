using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MeaiMetadata.Tagging;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Diagnostics;

/// <summary>The layer's counters: requests by outcome and tokens by app, with a bound on distinct app ids.</summary>
internal sealed class DifyMetadataMetrics
{
    public const string Attached = "attached";
    public const string NoSession = "no_session";
    public const string Disabled = "disabled";
    public const string StoreDisabled = "store_disabled";
    public const string ResolverFailed = "resolver_failed";
    public const string UnsupportedProvider = "unsupported_provider";

    private static readonly Meter s_sharedMeter = new(DifyMetadataTelemetry.MeterName);

    private readonly ConcurrentDictionary<string, byte> _reportedAppIds = new(StringComparer.Ordinal);
    private int _reportedCount;

    /// <summary>Initializes a new instance on a meter from <paramref name="meterFactory"/>, or on the shared meter.</summary>
    public DifyMetadataMetrics(IMeterFactory? meterFactory)
    {
        Meter meter = meterFactory?.Create(DifyMetadataTelemetry.MeterName) ?? s_sharedMeter;
        Requests = meter.CreateCounter<long>(DifyMetadataTelemetry.RequestsCounter, "{request}", "Chat requests seen by the MeaiMetadata layer, by outcome.");
        Tokens = meter.CreateCounter<long>(DifyMetadataTelemetry.TokenUsageCounter, "{token}", "Tokens used per app, from the provider's usage report.");
    }

    public Counter<long> Requests { get; }

    public Counter<long> Tokens { get; }

    /// <summary>Counts one request.</summary>
    public void RecordRequest(string outcome, DifyTagSet? tags, int maxAppIds)
    {
        if (!Requests.Enabled)
        {
            return;
        }

        if (tags is null)
        {
            Requests.Add(1, new KeyValuePair<string, object?>(DifyMetadataTelemetry.OutcomeTag, outcome));
        }
        else
        {
            Requests.Add(
                1,
                new KeyValuePair<string, object?>(DifyMetadataTelemetry.OutcomeTag, outcome),
                new KeyValuePair<string, object?>(DifyMetadataTelemetry.AppIdTag, AppIdTagValue(tags, maxAppIds)));
        }
    }

    /// <summary>Counts the tokens of one response.</summary>
    public void RecordUsage(UsageDetails? usage, DifyTagSet tags, string? model, int maxAppIds)
    {
        if (usage is null || !Tokens.Enabled)
        {
            return;
        }

        string appId = AppIdTagValue(tags, maxAppIds);
        if (usage.InputTokenCount is long input)
        {
            Tokens.Add(input, Tag(appId), new(DifyMetadataTelemetry.TokenTypeTag, "input"), new(DifyMetadataTelemetry.ModelTag, model));
        }

        if (usage.OutputTokenCount is long output)
        {
            Tokens.Add(output, Tag(appId), new(DifyMetadataTelemetry.TokenTypeTag, "output"), new(DifyMetadataTelemetry.ModelTag, model));
        }

        static KeyValuePair<string, object?> Tag(string appId) => new(DifyMetadataTelemetry.AppIdTag, appId);
    }

    /// <summary>The app id as a tag value: itself for the first <paramref name="maxAppIds"/> distinct ids, <c>other</c> after.</summary>
    private string AppIdTagValue(DifyTagSet tags, int maxAppIds)
    {
        string appId = tags.AppId;
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
