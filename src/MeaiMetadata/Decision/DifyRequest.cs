using System.Diagnostics;
using MeaiMetadata.Diagnostics;
using MeaiMetadata.Providers;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Decision;

/// <summary>
/// One request of a known app as this layer handles it: the <see cref="DifyRequestDecision"/>, what the caller handed in,
/// the raw-options factory that carries the decision to the provider, and what the wire got, reported once when the call
/// ends.
/// </summary>
/// <remarks>
/// The factory is bound to this object, so a layer that meets options carrying it knows which request, app and caller
/// inputs they belong to (<see cref="Of"/>). The provider calls the factory once per model request it sends: a tool loop
/// inside this layer sends several, each tagged and counted.
/// </remarks>
internal sealed class DifyRequest
{
    // The request whose factory is building raw options on this thread: a factory called from within another request's
    // factory (a caller wrapped the factory of earlier options) passes its caller's raw options through, so the factory
    // never chains and a model request is tagged and counted once, by the outermost factory.
    [ThreadStatic]
    private static DifyRequest? t_building;

    private readonly DifyMetadataSettings _settings;
    private int _attached, _storeDisabled, _unsupported, _failed, _ended;
    private int _completed;

    public DifyRequest(DifyRequestDecision decision, DifyMetadataSettings settings, CallerInputs caller)
    {
        Decision = decision;
        _settings = settings;
        Caller = caller;
        Factory = CreateRawOptions;
    }

    /// <summary>Gets the decision.</summary>
    public DifyRequestDecision Decision { get; }

    /// <summary>Gets what the caller handed in (restored when the options come back for another app).</summary>
    public CallerInputs Caller { get; }

    /// <summary>Gets the raw-options factory of this request.</summary>
    public Func<IChatClient, object?> Factory { get; }

    /// <summary>Gets or sets what this layer put in <c>AdditionalProperties["metadata"]</c>, or <see langword="null"/>.</summary>
    public object? WrittenMetadata { get; set; }

    /// <summary>Gets or sets what this layer put in <c>AdditionalProperties["store"]</c>, or <see langword="null"/>.</summary>
    public object? WrittenStore { get; set; }

    /// <summary>Gets or sets a value indicating whether the sent options carry <see cref="Factory"/>.</summary>
    public bool FactoryInstalled { get; set; }

    /// <summary>Returns the request whose factory <paramref name="factory"/> is, or <see langword="null"/>.</summary>
    public static DifyRequest? Of(Func<IChatClient, object?>? factory) => factory?.Target as DifyRequest;

    /// <summary>Returns what the caller handed in, as seen on <paramref name="options"/> that carry this request's writes:
    /// where the options still hold what this layer wrote, the caller's own value; elsewhere what the options hold now.</summary>
    public CallerInputs CallerInputsOn(ChatOptions options)
    {
        CallerInputs now = CallerInputs.Of(options);
        CallerInputs caller = Caller;
        if (now.Factory != Factory)
        {
            caller = caller.WithFactory(now.Factory);
        }

        if (WrittenMetadata is null || !ReferenceEquals(now.Metadata, WrittenMetadata))
        {
            caller = caller.WithMetadataOf(now);
        }

        if (WrittenStore is null || !ReferenceEquals(now.Store, WrittenStore))
        {
            caller = caller.WithStoreOf(now);
        }

        return caller;
    }

    /// <summary>Reports the request once, when the call that sent it ends: one outcome per model request the provider built,
    /// and the tokens of the response.</summary>
    /// <remarks>
    /// A call for which the factory was never asked: when the request needed none (nothing to carry), or when no mapping
    /// serves the provider (a client that never asks for raw options), it is counted once, as decided; when a mapping serves
    /// the provider, whose client always asks, nothing reached it (a layer inside answered, such as a cache, or an inner
    /// layer decided the request for another app) and nothing is counted. A request of an ended session counts no tokens.
    /// </remarks>
    public void Complete(UsageDetails? usage, string? model)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return;
        }

        if (Decision.Outcome is not { } outcome)
        {
            RecordSpend(usage, model); // a background poll: its answer's tokens and cost
            return;
        }

        int attached = Volatile.Read(ref _attached), storeDisabled = Volatile.Read(ref _storeDisabled);
        int unsupported = Volatile.Read(ref _unsupported), failed = Volatile.Read(ref _failed), ended = Volatile.Read(ref _ended);
        if (attached + storeDisabled + unsupported + failed + ended == 0)
        {
            if (FactoryInstalled && Decision.Mapping is not null)
            {
                return;
            }

            Count(FactoryInstalled && Decision.IsTagged ? DifyMetadataMetrics.UnsupportedProvider : outcome, 1);
        }
        else
        {
            Count(DifyMetadataMetrics.Attached, attached);
            Count(DifyMetadataMetrics.StoreDisabled, storeDisabled);
            Count(DifyMetadataMetrics.UnsupportedProvider, unsupported);
            Count(DifyMetadataMetrics.TaggingFailed, failed);
            for (int i = 0; i < ended; i++)
            {
                _settings.Count(DifyMetadataMetrics.NoSession);
            }

            if (ended > 0 && attached + storeDisabled + unsupported + failed == 0)
            {
                return; // the session had ended: its app gets nothing, tokens included
            }
        }

        RecordSpend(usage, model);
    }

    /// <summary>The tokens of the response and their cost, for the decision's app.</summary>
    private void RecordSpend(UsageDetails? usage, string? model)
    {
        _settings.Metrics.RecordUsage(usage, Decision.AppId, model, _settings.MaxMetricAppIds);
        _settings.Metrics.RecordCost(usage, Decision.AppId, model, _settings.MaxMetricAppIds, _settings.Prices, _settings.UnpricedModels, Decision.Logger);
    }

    private void Count(string outcome, int times)
    {
        for (int i = 0; i < times; i++)
        {
            _settings.Count(outcome, Decision.AppId);
        }
    }

    /// <summary>What the wire of one model request got; counted when the call ends, or at once after it ended (options
    /// used again later).</summary>
    private void RecordWire(ref int tally, string outcome, bool withAppId = true)
    {
        _ = Interlocked.Increment(ref tally);
        if (Volatile.Read(ref _completed) != 0 && Decision.Outcome is not null)
        {
            _settings.Count(outcome, withAppId ? Decision.AppId : null);
        }
    }

    /// <summary>The raw-options factory: the caller's factory first, then the one mapping that applies.</summary>
    private object? CreateRawOptions(IChatClient providerClient)
    {
        if (t_building is not null)
        {
            return Caller.Factory?.Invoke(providerClient); // chained from another request's factory: that one tags
        }

        // The caller's factory runs first and its exceptions reach the caller unchanged, as without this layer.
        object? callerRaw = null;
        if (Caller.Factory is { } callerFactory)
        {
            t_building = this;
            try
            {
                callerRaw = callerFactory(providerClient);
            }
            finally
            {
                t_building = null;
            }
        }

        if (Decision.Session is { IsEnded: true })
        {
            // Built after its session ended (options kept and sent later): an ended session tags nothing.
            Log.NotTagged(Decision.Logger, "the session of these options has ended");
            RecordWire(ref _ended, DifyMetadataMetrics.NoSession, withAppId: false);
            return callerRaw;
        }

        try
        {
            object? rawOptions = callerRaw;
            DifyProviderMapping? mapping = Decision.Mapping;
            if (rawOptions is null)
            {
                mapping ??= _settings.MappingFor(providerClient, Decision.IsStreaming);
                if (mapping is null)
                {
                    Log.NoMapping(Decision.Logger, providerClient.GetType().FullName ?? "?");
                    RecordWire(ref _unsupported, DifyMetadataMetrics.UnsupportedProvider);
                    return null;
                }

                rawOptions = mapping.CreateRawOptions(providerClient, Decision.IsStreaming);
            }
            else if (mapping is null || !mapping.CanApply(rawOptions))
            {
                if (mapping is not null)
                {
                    // The provider client sends its own raw type and would ignore these: new ones carry the tags instead.
                    Log.RawOptionsReplaced(Decision.Logger, rawOptions.GetType().FullName ?? "?", mapping.Name);
                    rawOptions = mapping.CreateRawOptions(providerClient, Decision.IsStreaming);
                }
                else if ((mapping = _settings.MappingFor(rawOptions)) is null)
                {
                    Log.NoMapping(Decision.Logger, rawOptions.GetType().FullName ?? "?");
                    RecordWire(ref _unsupported, DifyMetadataMetrics.UnsupportedProvider);
                    return rawOptions;
                }
            }

            bool attached = mapping.Apply(rawOptions, Decision);
            if (attached != Decision.IsTagged)
            {
                Log.RawOptionsDecided(Decision.Logger, mapping.Name, attached ? "attached" : "not attached");
            }

            if (attached)
            {
                RecordWire(ref _attached, DifyMetadataMetrics.Attached);
            }
            else
            {
                RecordWire(ref _storeDisabled, DifyMetadataMetrics.StoreDisabled);
            }

            // The span of an OpenTelemetry layer placed inside this one is current here, not in the layer itself.
            Activity.Current?.SetTag(DifyMetadataTelemetry.AppIdTag, Decision.AppId);
            return rawOptions;
        }
#pragma warning disable CA1031 // Tagging must never break a request: whatever fails here, the request goes out as it is.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TaggingFailed(Decision.Logger, ex);
            RecordWire(ref _failed, DifyMetadataMetrics.TaggingFailed);
            return callerRaw;
        }
    }
}
