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
public sealed partial class DifyRequestDecision
{
    // What the layer decided (set once), then what happened to the call (set while it runs).
    private const int Tagged = 1, Streaming = 2, FromCallFlag = 4, StoreSet = 8, StoreOn = 16, Poll = 32, NoMapping = 64,
        Failed = 128, EndedFlag = 256, StoreOff = 512, Attached = 1024, BuiltFlag = 2048, PolicyReached = 4096, BuiltInSession = 8192;

    // 40 B: the settings (or the Rare part that holds them, for the few calls that have more) and the app id (or the
    // session it came from, which keeps it).
    private object _context;
    private readonly object _app;
    private int _flags, _inCall;

    internal DifyRequestDecision(
        DifyMetadataSettings settings, string appId, bool fromCall, bool? store, bool isTagged, bool isStreaming, bool isPoll,
        bool hasMapping, DifySession? session, Func<IChatClient, object?>? callerFactory, Dictionary<string, string>? callerPairs)
    {
        _context = settings;
        _app = session is not null && ReferenceEquals(session.SentAppId, appId) ? session : appId;
        _flags = (isTagged ? Tagged : 0) | (isStreaming ? Streaming : 0) | (fromCall ? FromCallFlag : 0) | (store is null ? 0 : StoreSet)
            | (store is true ? StoreOn : 0) | (isPoll ? Poll : 0) | (hasMapping ? 0 : NoMapping);
        FunctionInvocationContext? tool = FunctionInvokingChatClient.CurrentContext;
        if (callerFactory is not null || callerPairs is not null || tool is not null)
        {
            _context = new Rare(settings) { Factory = callerFactory, Pairs = callerPairs, Tool = tool };
        }
    }

    /// <summary>Gets the app id as OpenAI receives it: lone surrogates replaced by U+FFFD, at most 512 UTF-16 characters.</summary>
    public string AppId => _app as string ?? ((DifySession)_app).SentAppId;

    /// <summary>Gets the source marker (<c>dify_source</c>), or <see langword="null"/> when none is sent.</summary>
    public string? Source => Settings.Source;

    /// <summary>Gets a value indicating whether the request carries the tags; <see langword="false"/> when its <c>store</c>
    /// flag keeps metadata off. The app id is known either way: usage is recorded for it.</summary>
    public bool IsTagged => Has(Tagged);

    /// <summary>Gets the <c>store</c> flag for raw options that leave it unset: the caller's, else <see langword="true"/>
    /// under <see cref="DifyStorePolicy.EnableWhenUnset"/>, else <see langword="null"/>.</summary>
    public bool? Store => Has(StoreSet) ? Has(StoreOn) : null;

    /// <summary>Gets the layer's logger, for what a mapping changes or drops.</summary>
    public ILogger Logger => Settings.Logger;

    internal DifyMetadataSettings Settings => Volatile.Read(ref _context) switch { Rare rare => rare.Settings, var settings => (DifyMetadataSettings)settings };

    internal bool FromCall => Has(FromCallFlag);

    internal bool IsStreaming => Has(Streaming);

    internal bool IsPoll => Has(Poll); // a background response poll: no model request is sent

    internal DifySession? Session => _app as DifySession;

    /// <summary>Gets the tool invocation this call was decided in, if any (a tool's own request runs in a newer one).</summary>
    internal FunctionInvocationContext? Tool => RarePart?.Tool;

    internal Func<IChatClient, object?>? CallerFactory => RarePart?.Factory;

    /// <summary>Gets a value indicating whether the layer is calling its inner client with these options right now.</summary>
    internal bool InCall => Volatile.Read(ref _inCall) > 0;

    /// <summary>Gets a value indicating whether every request of the call was built after its session ended: it tagged nothing
    /// (a tool loop whose session ends part-way tagged its first requests, and is recorded for the app).</summary>
    internal bool Ended => Has(EndedFlag) && !Has(BuiltInSession);

    internal bool Built => Has(BuiltFlag); // the provider built a request (a cache answering does not)

    /// <summary>Gets a value indicating whether the call's gateway headers go out: while the call runs (work it started may
    /// send later) and its session lasts, as a request body is tagged when it is built while the session lasts.</summary>
    internal bool GatewayHeadersLive => InCall && Session is not { IsEnded: true };

    /// <summary>Gets a value indicating whether the provider built a request and no policy or handler reached it.</summary>
    internal bool GatewayHeadersLost => Settings.GatewayHeaders.Length > 0 && Has(BuiltFlag) && !Has(PolicyReached);

    /// <summary>Gets the outcome to record, or <see langword="null"/> for a background poll (no model request): a refusal by
    /// the budget, else what building the raw options found, else what the layer decided.</summary>
    internal string? RecordedOutcome => BudgetOutcome ?? (Has(Poll) && !Has(BuiltFlag) ? null
        : Has(Failed) ? DifyMetadataMetrics.TaggingFailed
        : Has(Attached) ? DifyMetadataMetrics.Attached
        : Has(StoreOff) || !Has(Tagged) ? DifyMetadataMetrics.StoreDisabled
        : Has(NoMapping) ? DifyMetadataMetrics.UnsupportedProvider
        : DifyMetadataMetrics.Attached);

    /// <summary>Removes <c>dify_app_id</c> and <c>dify_source</c> that the caller put on an untagged request.</summary>
    public void RemoveReservedKeys(IDictionary<string, string>? metadata) => WireMetadata.RemoveReservedKeys(metadata, Logger);

    /// <summary>Returns the decision whose factory <paramref name="options"/> carry, or <see langword="null"/>.</summary>
    internal static DifyRequestDecision? Of(ChatOptions? options) => options?.RawRepresentationFactory?.Target as DifyRequestDecision;

    internal void EnterInnerCall() => Interlocked.Increment(ref _inCall);

    internal void ExitInnerCall() => Interlocked.Decrement(ref _inCall);

    internal void MarkPolicyReached() => Set(PolicyReached);

    /// <summary>Merges the tags into <paramref name="metadata"/> (the request's own) within <paramref name="rules"/> when the
    /// request, with its final <c>store</c> flag, is <paramref name="tagged"/> (the caller's <c>AdditionalProperties["metadata"]</c>
    /// pairs added where the raw metadata does not set them); else removes reserved keys.</summary>
    internal bool Merge(IDictionary<string, string> metadata, bool tagged, MetadataRules rules, string target)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!tagged)
        {
            RemoveReservedKeys(metadata);
            return false;
        }

        if (RarePart?.Pairs is { } pairs) // never "?? []": that allocates a dictionary per request
        {
            foreach (KeyValuePair<string, string> pair in pairs)
            {
                _ = metadata.TryAdd(pair.Key, pair.Value);
            }
        }

        _ = WireMetadata.Merge(metadata, AppId, Source, rules, Logger, target);
        return true;
    }

    /// <summary>The raw-options factory: the caller's factory first (its exceptions reach the caller, as without the layer),
    /// then the mapping that serves the provider, or the first that can apply to what the caller's factory returned.</summary>
    internal object? CreateRawOptions(IChatClient providerClient)
    {
        Set(BuiltFlag);
        object? raw = TakeMeasured() ?? CallerFactory?.Invoke(providerClient); // what a budget measured is what is sent
        if (Session is { IsEnded: true })
        {
            Set(EndedFlag); // options kept and sent after their session ended: an ended session tags nothing
            Log.NotTagged(Logger, "the session of these options has ended");
            return raw;
        }

        Set(BuiltInSession);
        try
        {
            DifyProviderMapping? mapping = Settings.MappingFor(providerClient, IsStreaming);
            if (raw is not null && mapping?.CanApply(raw) == false)
            {
                raw = null; // not the type the provider sends: it would ignore them and send untagged options of its own
            }

            mapping ??= raw is null ? null : Settings.MappingFor(raw);
            if (mapping is null)
            {
                return raw;
            }

            raw ??= mapping.CreateRawOptions(providerClient, IsStreaming);
            Set(mapping.Apply(raw, this) ? Attached : StoreOff); // attached also where the caller's raw options turned store on
            Activity.Current?.SetTag(DifyMetadataTelemetry.AppIdTag, AppId); // the span of an OpenTelemetry layer inside this one
            return raw;
        }
        catch (Exception ex)
        {
            Set(Failed);
            Log.TaggingFailed(Logger, ex);
            return raw;
        }
    }

    private bool Has(int flag) => (Volatile.Read(ref _flags) & flag) != 0;

    private void Set(int flag) => Interlocked.Or(ref _flags, flag);

    private Rare? RarePart => Volatile.Read(ref _context) as Rare;

    /// <summary>What few calls have: set before the call is passed on (a budget's part while it reserves), read after.</summary>
    private sealed partial class Rare(DifyMetadataSettings settings)
    {
        public DifyMetadataSettings Settings { get; } = settings;

        public Func<IChatClient, object?>? Factory { get; init; }

        public Dictionary<string, string>? Pairs { get; init; }

        public FunctionInvocationContext? Tool { get; init; }
    }
}
