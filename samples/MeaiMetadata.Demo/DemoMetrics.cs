using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace MeaiMetadata.Demo;

/// <summary>Listens to the MeaiMetadata meter of one service provider, as an exporter would.</summary>
public sealed class DemoMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Name, string Key), long> _totals = new();
    private readonly ConcurrentDictionary<string, double> _costs = new();

    /// <param name="meterFactory">The meter factory of the demo's services: only its meters are read.</param>
    public DemoMetrics(IMeterFactory meterFactory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == DifyMetadataTelemetry.MeterName && ReferenceEquals(instrument.Meter.Scope, meterFactory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? app = null, outcome = null, type = null;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                switch (tag.Key)
                {
                    case DifyMetadataTelemetry.AppIdTag: app = tag.Value as string; break;
                    case DifyMetadataTelemetry.OutcomeTag: outcome = tag.Value as string; break;
                    case DifyMetadataTelemetry.TokenTypeTag: type = tag.Value as string; break;
                }
            }

            string key = instrument.Name == DifyMetadataTelemetry.RequestsCounter ? $"{outcome}" : $"{app}|{type}";
            _totals.AddOrUpdate((instrument.Name, key), value, (_, total) => total + value);
        });
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            if (instrument.Name != DifyMetadataTelemetry.CostCounter)
            {
                return;
            }

            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == DifyMetadataTelemetry.AppIdTag && tag.Value is string app)
                {
                    _costs.AddOrUpdate(app, value, (_, total) => total + value);
                }
            }
        });
        _listener.Start();
    }

    /// <summary>Gets the tokens of one app and type (<c>input</c> or <c>output</c>) from <c>dify.app.token.usage</c>.</summary>
    public long Tokens(string app, string type) => _totals.GetValueOrDefault((DifyMetadataTelemetry.TokenUsageCounter, $"{app}|{type}"));

    /// <summary>Gets the US dollars of one app from <c>dify.app.cost</c> so far.</summary>
    public double Cost(string app) => _costs.GetValueOrDefault(app);

    /// <summary>Gets the request counts by outcome from <c>dify.metadata.requests</c>.</summary>
    public IReadOnlyDictionary<string, long> Outcomes() =>
        _totals.Where(t => t.Key.Name == DifyMetadataTelemetry.RequestsCounter).ToDictionary(t => t.Key.Key, t => t.Value);

    public void Dispose() => _listener.Dispose();
}
