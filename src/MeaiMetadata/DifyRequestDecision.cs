using System.Diagnostics;
using MeaiMetadata.Diagnostics;
using MeaiMetadata.Providers;
using MeaiMetadata.Tagging;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata;

/// <summary>What <see cref="DifyMetadataChatClient"/> decided for one call of a known app: the app id, whether the request
/// is tagged and its <c>store</c> flag. Made once, before the call is passed on; every channel reads it (the raw request
/// options through a <see cref="DifyProviderMapping"/>, <c>AdditionalProperties</c>, gateway headers, the trace tag, the
/// log and the meter) and none decides again.</summary>
/// <remarks>The options the layer passes on carry this decision as their <see cref="ChatOptions.RawRepresentationFactory"/>:
/// the caller's factory runs first, then the mapping that serves the provider merges the tags into what it returned.
/// This type is thread-safe.</remarks>
public sealed class DifyRequestDecision
{
    private readonly DifyMetadataSettings _settings;
    private readonly Dictionary<string, string>? _callerPairs;
    private volatile bool _failed, _ended, _storeOff, _attached, _built;
    private int _inCall;

    internal DifyRequestDecision(
        DifyMetadataChatClient layer, DifyMetadataSettings settings, string appId, string origin, bool? store, bool isTagged,
        bool isStreaming, string? outcome, DifyProviderMapping? mapping, DifySession? session,
        Func<IChatClient, object?>? callerFactory, Dictionary<string, string>? callerPairs)
    {
        Layer = layer;
        _settings = settings;
        AppId = appId;
        Origin = origin;
        Store = store;
        IsTagged = isTagged;
        IsStreaming = isStreaming;
        Outcome = outcome;
        Mapping = mapping;
        Session = session;
        CallerFactory = callerFactory;
        _callerPairs = callerPairs;
    }

    /// <summary>Gets the app id as OpenAI receives it: lone surrogates replaced by U+FFFD, at most 512 UTF-16 characters.</summary>
    public string AppId { get; }

    /// <summary>Gets the source marker (<c>dify_source</c>), or <see langword="null"/> when none is sent.</summary>
    public string? Source => _settings.Source;

    /// <summary>Gets a value indicating whether the request carries the tags; <see langword="false"/> when its <c>store</c>
    /// flag keeps metadata off. The app id is known either way: usage is recorded for it.</summary>
    public bool IsTagged { get; }

    /// <summary>Gets the <c>store</c> flag for raw options that leave it unset: the caller's, else <see langword="true"/>
    /// under <see cref="DifyStorePolicy.EnableWhenUnset"/>, else <see langword="null"/>.</summary>
    public bool? Store { get; }

    /// <summary>Gets a value indicating whether the request streams.</summary>
    internal bool IsStreaming { get; }

    /// <summary>Gets the layer's logger, for what a mapping changes or drops.</summary>
    public ILogger Logger => _settings.Logger;

    internal DifyMetadataChatClient Layer { get; }

    /// <summary>Gets the tool invocation this call was decided in, if any (a tool's own request runs in a newer one).</summary>
    internal FunctionInvocationContext? Tool { get; } = FunctionInvokingChatClient.CurrentContext;

    /// <summary>Gets a value indicating whether the layer is calling its inner client with these options right now.</summary>
    internal bool InCall => Volatile.Read(ref _inCall) > 0;

    internal string Origin { get; }

    /// <summary>Gets the outcome the call is recorded with, or <see langword="null"/> for a background poll (no model request).</summary>
    internal string? Outcome { get; }

    internal DifyProviderMapping? Mapping { get; }

    internal DifySession? Session { get; }

    internal Func<IChatClient, object?>? CallerFactory { get; }

    internal bool Ended => _ended;

    /// <summary>Gets a value indicating whether the provider built a request from these options (a cache answering does not).</summary>
    internal bool Built => _built;

    /// <summary>Gets the outcome to record: the decided one, unless building the raw options failed or turned store off.</summary>
    internal string? RecordedOutcome => BudgetOutcome ?? (Outcome is null ? null
        : _failed ? DifyMetadataMetrics.TaggingFailed
        : _attached ? DifyMetadataMetrics.Attached
        : _storeOff ? DifyMetadataMetrics.StoreDisabled
        : Outcome);

    /// <summary>Gets or sets the output tokens a budget reserved for this call: raw options asking for more are capped to it.</summary>
    internal int? BudgetMaxOutputTokens { get; set; }

    /// <summary>Gets or sets the outcome of a call its budget refused (nothing was sent), or <see langword="null"/>.</summary>
    internal string? BudgetOutcome { get; set; }

    /// <summary>Returns the <c>store</c> flag that applies to raw options that say <paramref name="rawStore"/>.</summary>
    internal bool? DecideStore(bool? rawStore) => rawStore ?? Store;

    /// <summary>Removes <c>dify_app_id</c> and <c>dify_source</c> that the caller put on an untagged request.</summary>
    public void RemoveReservedKeys(IDictionary<string, string>? metadata) => WireMetadata.RemoveReservedKeys(metadata, Logger);

    internal void EnterInnerCall() => Interlocked.Increment(ref _inCall);

    internal void ExitInnerCall() => Interlocked.Decrement(ref _inCall);

    /// <summary>Returns the decision whose factory <paramref name="options"/> carry, or <see langword="null"/>.</summary>
    internal static DifyRequestDecision? Of(ChatOptions? options) => options?.RawRepresentationFactory?.Target as DifyRequestDecision;

    /// <summary>Adds the caller's <c>AdditionalProperties["metadata"]</c> pairs that the raw metadata does not set itself.</summary>
    internal void AddCallerPairs(IDictionary<string, string> metadata)
    {
        if (_callerPairs is null)
        {
            return;
        }

        foreach (KeyValuePair<string, string> pair in _callerPairs)
        {
            _ = metadata.TryAdd(pair.Key, pair.Value);
        }
    }

    /// <summary>The raw-options factory: the caller's factory first (its exceptions reach the caller, as without the layer),
    /// then the mapping that serves the provider, or the first that can apply to what the caller's factory returned.</summary>
    internal object? CreateRawOptions(IChatClient providerClient)
    {
        _built = true;
        object? raw = CallerFactory?.Invoke(providerClient);
        if (Session is { IsEnded: true })
        {
            _ended = true; // options kept and sent after their session ended: an ended session tags nothing
            Log.NotTagged(Logger, "the session of these options has ended");
            return raw;
        }

        try
        {
            DifyProviderMapping? mapping = Mapping ?? _settings.MappingFor(providerClient, IsStreaming);
            if (raw is not null && mapping?.CanApply(raw) == false)
            {
                raw = null; // not the type the provider sends: it would ignore them and send untagged options of its own
            }

            mapping ??= raw is null ? null : _settings.MappingFor(raw);
            if (mapping is null)
            {
                return raw;
            }

            raw ??= mapping.CreateRawOptions(providerClient, IsStreaming);
            if (mapping.Apply(raw, this))
            {
                _attached = true; // also where the caller's raw options turned store on
            }
            else
            {
                _storeOff = true;
            }

            // The span of an OpenTelemetry layer inside this one is current here, not in the layer itself.
            Activity.Current?.SetTag(DifyMetadataTelemetry.AppIdTag, AppId);
            return raw;
        }
        catch (Exception ex)
        {
            _failed = true;
            Log.TaggingFailed(Logger, ex);
            return raw;
        }
    }
}
