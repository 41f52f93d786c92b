using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using MeaiMetadata.Budgets;
using MeaiMetadata.Diagnostics;
using MeaiMetadata.Gateways;
using MeaiMetadata.Providers;
using MeaiMetadata.Tagging;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MeaiMetadata;

/// <summary>A delegating chat client that tags every request with the calling app's id as OpenAI request metadata and
/// records tokens and cost per app.</summary>
/// <remarks>Each call is decided once, at the top: the app id (the call's own <c>WithDifyAppId</c>, else the current
/// <see cref="DifySession"/>, else <see cref="DifyMetadataOptions.AppIdResolver"/>, else W3C baggage when
/// <see cref="DifyMetadataOptions.AppIdFromBaggage"/> is on), whether the request is tagged, and its <c>store</c> flag. The
/// options passed on carry the decision to the OpenAI request (their raw-options factory) and to other layers (their
/// <c>AdditionalProperties</c>); the call is recorded once, when it ends. A request without an app goes out untagged; the
/// caller's objects are never changed. This type is thread-safe.</remarks>
public sealed partial class DifyMetadataChatClient : DelegatingChatClient
{
    private const string FromCall = "call";
    private static readonly object s_true = true, s_false = false;

    private readonly ILogger _logger;
    private readonly DifyMetadataMetrics _metrics;
    private readonly IDisposable? _subscription;
    private volatile DifyMetadataSettings _settings;
    private readonly bool _layerBelow; // another layer is inside: it counts the calls this one does not decide, and keeps their budgets
    private volatile TagPairs? _tags; // the last app's tags: immutable, so calls of the same app share them
    private string? _defaultModelId;

    /// <summary>Initializes a new instance of the <see cref="DifyMetadataChatClient"/> class with fixed options.</summary>
#pragma warning disable RS0027 // The longer overload takes an IOptionsMonitor in second place: no call can be ambiguous.
    public DifyMetadataChatClient(IChatClient innerClient, DifyMetadataOptions? options = null, ILogger? logger = null, IMeterFactory? meterFactory = null)
#pragma warning restore RS0027
        : base(innerClient)
    {
        _logger = logger ?? NullLogger.Instance;
        _metrics = DifyMetadataMetrics.For(meterFactory);
        _layerBelow = innerClient.GetService(typeof(DifyMetadataChatClient)) is not null;
        _settings = DifyMetadataSettings.Create(options ?? new DifyMetadataOptions(), _logger, this);
    }

    /// <summary>Initializes a new instance of the <see cref="DifyMetadataChatClient"/> class that follows live option changes.</summary>
    /// <remarks>A change to options that cannot work is refused with one Error in the log; the options before it stay in
    /// force. The client subscribes to changes: dispose it when it is built per scope.</remarks>
    public DifyMetadataChatClient(
        IChatClient innerClient, IOptionsMonitor<DifyMetadataOptions> options, string? optionsName, ILogger? logger, IMeterFactory? meterFactory)
        : this(innerClient, options, optionsName, configure: null, logger, meterFactory)
    {
    }

    internal DifyMetadataChatClient(
        IChatClient innerClient, IOptionsMonitor<DifyMetadataOptions> options, string? optionsName, Action<DifyMetadataOptions>? configure,
        ILogger? logger, IMeterFactory? meterFactory)
        : base(innerClient)
    {
        ArgumentNullException.ThrowIfNull(options);
        string name = optionsName ?? Options.DefaultName;
        _logger = logger ?? NullLogger.Instance;
        _metrics = DifyMetadataMetrics.For(meterFactory);
        _layerBelow = innerClient.GetService(typeof(DifyMetadataChatClient)) is not null;
        _settings = Snapshot(options.Get(name), configure);
        _subscription = options.OnChange((changed, changedName) =>
        {
            if (string.Equals(changedName ?? Options.DefaultName, name, StringComparison.Ordinal))
            {
                try
                {
                    _settings = Snapshot(changed, configure);
                }
                catch (Exception ex)
                {
                    Log.OptionsChangeRefused(_logger, ex.Message);
                }
            }
        });
    }

    /// <inheritdoc />
    public override Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        DifyMetadataSettings settings = _settings;
        if (IsCovered(options))
        {
            // An outer layer's call covers this one (it tags and records); a budget is kept here, the closest to the request.
            return CoveredBudgets?.Begin(settings, DifyRequestDecision.Of(options), ref messages, ref options, InnerClient, this, covered: true) is { } inside
                ? SendAsync(settings, null, inside, messages, options, cancellationToken)
                : base.GetResponseAsync(messages, options, cancellationToken);
        }

        DifyRequestDecision? call = Decide(settings, options, streaming: false, out ChatOptions? sent);
        DifyBudgetCall? budget = Budgets.Begin(settings, call, ref messages, ref sent, InnerClient, this, covered: false);
        if (budget is null && GatewayScope.Current is null && (call is null || (settings.GatewayHeaders.Length == 0 && !_metrics.Enabled)))
        {
            call?.EnterInnerCall(); // nothing to record, no headers to write or hide: covered while the call into it runs
            try
            {
                return base.GetResponseAsync(messages, sent, cancellationToken);
            }
            finally
            {
                call?.ExitInnerCall();
            }
        }

        return SendAsync(settings, call, budget, messages, sent, cancellationToken);
    }

    /// <inheritdoc />
    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        DifyMetadataSettings settings = _settings;
        if (IsCovered(options))
        {
            return settings.Budgets is null || CoveredBudgets is null
                ? base.GetStreamingResponseAsync(messages, options, cancellationToken)
                : StreamAsync(settings, DifyRequestDecision.Of(options), covered: true, messages, options, cancellationToken);
        }

        DifyRequestDecision? call = Decide(settings, options, streaming: true, out ChatOptions? sent);
        return call is null && GatewayScope.Current is null
            ? base.GetStreamingResponseAsync(messages, sent, cancellationToken)
            : StreamAsync(settings, call, covered: false, messages, sent, cancellationToken);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _subscription?.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>Sends with this call's gateway headers current (none hides an outer call's; a covered call keeps the outer
    /// call's), then records the call once.</summary>
    private async Task<ChatResponse> SendAsync(
        DifyMetadataSettings settings, DifyRequestDecision? call, DifyBudgetCall? budget, IEnumerable<ChatMessage> messages, ChatOptions? sent,
        CancellationToken cancellationToken)
    {
        if (budget?.IsCovered != true)
        {
            GatewayScope.Current = call; // set inside this async method: it flows into the inner call, never back to the caller
        }

        ChatResponse? response = null;
        call?.EnterInnerCall(); // for the whole call: the layers it reaches, also after an await, are covered by it
        try
        {
            if (budget is not null)
            {
                await budget.ReserveAsync(cancellationToken).ConfigureAwait(false); // throws, sending nothing, when it does not fit
            }

            return response = await base.GetResponseAsync(messages, sent, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            call?.ExitInnerCall();
            if (budget is not null)
            {
                await budget.SettleAsync(response?.Usage, response?.ModelId, completed: response is not null).ConfigureAwait(false);
            }

            if (budget?.IsCovered != true)
            {
                Record(settings, call, response?.Usage, response?.ModelId, sent?.ModelId, completed: response is not null);
            }
        }
    }

    /// <summary>Streams with this call's gateway headers current while the inner stream runs; records once when it ends. Opened
    /// when enumerated: the provider builds the request then (so a stream enumerated after its session ended tags nothing), and a
    /// budget reserves for each enumeration what it sends.</summary>
    private async IAsyncEnumerable<ChatResponseUpdate> StreamAsync(
        DifyMetadataSettings settings, DifyRequestDecision? call, bool covered, IEnumerable<ChatMessage> messages, ChatOptions? sent,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        UsageDetails? usage = null;
        string? model = null;
        bool completed = false;
        DifyBudgetCall? budget = null;
        DifyRequestDecision? own = covered ? null : call; // while the stream runs: the layers it reaches are covered by it
        own?.EnterInnerCall();
        try
        {
            budget = (covered ? CoveredBudgets : Budgets)?.Begin(settings, call, ref messages, ref sent, InnerClient, this, covered);
            if (budget is not null)
            {
                await budget.ReserveAsync(cancellationToken).ConfigureAwait(false);
            }

            IAsyncEnumerator<ChatResponseUpdate>? updates = null;
            try
            {
                while (true)
                {
                    if (!covered)
                    {
                        GatewayScope.Current = call; // again after each yield: this method resumes in the consumer's flow, which never sees it
                    }

                    updates ??= base.GetStreamingResponseAsync(messages, sent, cancellationToken).GetAsyncEnumerator(cancellationToken); // opened when enumerated
                    if (!await updates.MoveNextAsync().ConfigureAwait(false))
                    {
                        break;
                    }

                    ChatResponseUpdate update = updates.Current;
                    model ??= update.ModelId;
                    foreach (AIContent content in update.Contents)
                    {
                        if (content is UsageContent usageContent)
                        {
                            (usage ??= new()).Add(usageContent.Details);
                        }
                    }

                    yield return update;
                }
            }
            finally
            {
                if (updates is not null)
                {
                    if (!covered)
                    {
                        GatewayScope.Current = call; // also when the consumer disposes early
                    }

                    await updates.DisposeAsync().ConfigureAwait(false); // in its own finally: a throw here still records the call
                }
            }

            completed = true;
        }
        finally
        {
            own?.ExitInnerCall();
            if (budget is not null)
            {
                await budget.SettleAsync(usage, model, completed).ConfigureAwait(false); // at the end, on abandon or failure
            }

            if (!covered)
            {
                Record(settings, call, usage, model, sent?.ModelId, completed);
            }
        }
    }

    /// <summary>Decides the call: the options to pass on, and the decision when an app is known.</summary>
    private DifyRequestDecision? Decide(DifyMetadataSettings settings, ChatOptions? options, bool streaming, out ChatOptions? sent)
    {
        sent = options;
        DifyRequestDecision? prior = DifyRequestDecision.Of(options); // options this or another layer tagged for an earlier call
        string? outcome = DifyMetadataMetrics.Disabled;
        if (settings.Enabled)
        {
            try
            {
                App app = FindApp(settings, options, prior);
                if (app.Id is not null)
                {
                    return Tag(settings, options, prior, app, streaming, out sent);
                }

                Log.NotTagged(settings.Logger, app.Reason);
                outcome = app.Outcome;
                sent = Untagged(options, prior);
            }
            catch (Exception ex)
            {
                Log.DecisionFailed(settings.Logger, ex);
                outcome = DifyMetadataMetrics.TaggingFailed;
            }
        }

        try
        {
            if (!_layerBelow) // the innermost layer counts a call no layer decided, once
            {
                _metrics.RecordRequest(outcome, null, settings);
            }
        }
        catch (Exception ex)
        {
            Log.ReportingFailed(settings.Logger, ex); // a throwing listener must not fail the request
        }

        return null;
    }

    private DifyRequestDecision Tag(DifyMetadataSettings settings, ChatOptions? options, DifyRequestDecision? prior, App app, bool streaming, out ChatOptions? sent)
    {
        string appId = app.Id!;
        AdditionalPropertiesDictionary? callerProperties = options?.AdditionalProperties;
        object? callerMetadata = null, callerStore = null;
        bool hasMetadata = callerProperties?.TryGetValue(DifyMetadataKeys.MetadataProperty, out callerMetadata) == true;
        bool? flag = callerProperties?.TryGetValue(DifyMetadataKeys.StoreProperty, out callerStore) == true ? WireMetadata.ReadFlag(callerStore) : null;
        bool? store = flag ?? (settings.StorePolicy == DifyStorePolicy.EnableWhenUnset ? true : null);
        Dictionary<string, string>? pairs = hasMetadata ? WireMetadata.ReadPairs(callerMetadata) : null;
        if (hasMetadata && pairs is null)
        {
            Log.UnreadableCallerMetadata(settings.Logger, callerMetadata?.GetType().FullName ?? "null");
        }

        DifyProviderMapping? mapping = settings.MappingFor(InnerClient, streaming);
        // A background response poll sends no model request (other APIs than Responses ignore the token); a tool loop that goes
        // on after it does, so the poll's options are tagged like any others.
        bool isPoll = options?.ContinuationToken is not null && mapping == DifyProviderMapping.OpenAIResponses;
        bool tagged = mapping?.AttachesMetadata(store) ?? store is not false;
        Func<IChatClient, object?>? callerFactory = prior is null ? options?.RawRepresentationFactory : prior.CallerFactory;
        var call = new DifyRequestDecision(settings, appId, app.Origin == FromCall, store, tagged, streaming, isPoll, mapping is not null, app.Session, callerFactory, pairs);
        ChatOptions clone = options?.Clone() ?? new ChatOptions();
        sent = clone;
        AdditionalPropertiesDictionary? properties = clone.AdditionalProperties;
        _ = properties?.Remove(DifyMetadataKeys.AppIdProperty);
        clone.RawRepresentationFactory = call.CreateRawOptions;
        if (tagged && settings.AdditionalPropertiesEnabled)
        {
            properties = clone.AdditionalProperties ??= [];
            if (pairs is not null) // logged where the wire is merged; here only when no mapping serves the provider
            {
                _ = WireMetadata.Merge(pairs, appId, settings.Source, WireMetadata.OpenAI, mapping is null ? settings.Logger : NullLogger.Instance, "AdditionalProperties");
            }

            properties[DifyMetadataKeys.MetadataProperty] = pairs is null ? Tags(appId, settings.Source) : pairs.AsReadOnly();
            if (store is bool value)
            {
                properties[DifyMetadataKeys.StoreProperty] = value ? s_true : s_false;
            }
        }
        else if (pairs is not null && (pairs.Remove(DifyMetadataKeys.AppId) | pairs.Remove(DifyMetadataKeys.Source)))
        {
            properties![DifyMetadataKeys.MetadataProperty] = pairs.AsReadOnly(); // no channel carries an app the layer did not choose
        }

        if (tagged)
        {
            Log.Tagged(settings.Logger, appId, app.Origin, store is null ? "unset" : "true");
        }
        else
        {
            Log.AppNotTagged(settings.Logger, appId, app.Origin, flag is false ? "the caller set store to false"
                : "store is unset and the store policy leaves it unset (Chat Completions accepts metadata only with store: true)");
        }

        Activity.Current?.SetTag(DifyMetadataTelemetry.AppIdTag, appId);
        return call;
    }

    /// <summary>The caller's options for a request this layer does not tag: without the call's own app id, and without the
    /// factory of an earlier decision these options carry.</summary>
    private static ChatOptions? Untagged(ChatOptions? options, DifyRequestDecision? prior)
    {
        if (prior is null && options?.AdditionalProperties?.ContainsKey(DifyMetadataKeys.AppIdProperty) != true)
        {
            return options;
        }

        ChatOptions sent = options!.Clone();
        _ = sent.AdditionalProperties?.Remove(DifyMetadataKeys.AppIdProperty);
        if (prior is not null)
        {
            sent.RawRepresentationFactory = prior.CallerFactory;
        }

        return sent;
    }

    /// <summary>Finds the app of the call (blank, also once cut to OpenAI's 512 characters, means none): the call's own id, else
    /// the current session, else the resolver when set, else baggage when asked.</summary>
    private static App FindApp(DifyMetadataSettings settings, ChatOptions? options, DifyRequestDecision? prior)
    {
        if (options?.AdditionalProperties is { Count: > 0 } properties && properties.TryGetValue(DifyMetadataKeys.AppIdProperty, out object? named))
        {
            switch (named)
            {
                case string or sbyte or byte or short or ushort or int or uint or long or ulong or Int128 or UInt128 or Guid:
                    return App.Of(named as string ?? ((IFormattable)named).ToString(null, CultureInfo.InvariantCulture), FromCall)
                        ?? new(null, FromCall, DifyMetadataMetrics.NoSession, "the call's app id is blank");
                case JsonElement or JsonNode or JsonDocument:
                    Log.CallAppIdFromJsonIgnored(settings.Logger); // a client's request body must not choose whom it bills
                    break;
                default:
                    Log.CallAppIdUnreadable(settings.Logger, named?.GetType().FullName ?? "null");
                    return new(null, FromCall, DifyMetadataMetrics.TaggingFailed, "the call's app id is not a string");
            }
        }

        if (prior?.FromCall == true)
        {
            return new(prior.AppId, FromCall); // the layer took the key off the options it passed on
        }

        if (DifySession.Current is { } session)
        {
            return App.Of(session.SentAppId, "session") is { } fromSession
                ? fromSession with { Session = session }
                : new(null, "session", DifyMetadataMetrics.NoSession, "the session's app id is blank");
        }

        if (settings.AppIdResolver is { } resolver)
        {
            try
            {
                return App.Of(resolver(), "resolver") ?? new(null, "resolver", DifyMetadataMetrics.NoSession, "the resolver named no app");
            }
            catch (Exception ex)
            {
                Log.ResolverFailed(settings.Logger, ex);
                return new(null, "resolver", DifyMetadataMetrics.ResolverFailed, "the app id resolver threw");
            }
        }

        // Baggage only when nothing the operator chose speaks: any caller can send it.
        return (settings.AppIdFromBaggage ? App.Of(Activity.Current?.GetBaggageItem(DifyMetadataTelemetry.AppIdTag), "baggage") : null)
            ?? new(null, "session", DifyMetadataMetrics.NoSession, "no session");
    }

    private DifyMetadataSettings Snapshot(DifyMetadataOptions options, Action<DifyMetadataOptions>? configure)
    {
        if (configure is not null)
        {
            options = options.Clone();
            configure(options);
        }

        return DifyMetadataSettings.Create(options, _logger, this);
    }

    /// <summary>Records one call of a known app once, when it ends; reporting never changes the call's result.</summary>
    /// <remarks>Priced by the model the response names, else the one requested; tagged with the requested model.</remarks>
    private void Record(DifyMetadataSettings settings, DifyRequestDecision? call, UsageDetails? usage, string? responseModel, string? requestModel, bool completed)
    {
        try
        {
            if (call is null)
            {
                return; // a call this layer did not decide (it only hid an outer call's headers from it)
            }

            if (completed && call.GatewayHeadersLost && _metrics.FirstGatewayWarning()) // a call that failed may not have been sent
            {
                Log.GatewayHeadersNotSent(settings.Logger);
            }

            if (call.Ended)
            {
                _metrics.RecordRequest(DifyMetadataMetrics.NoSession, null, settings); // an ended session's app gets nothing
                return;
            }

            if (call.RecordedOutcome is { } outcome)
            {
                _metrics.RecordRequest(outcome, call.AppId, settings);
            }

            requestModel ??= DefaultModelId();
            _metrics.RecordSpend(usage, call.AppId, responseModel ?? requestModel, requestModel, settings);
        }
        catch (Exception ex)
        {
            Log.ReportingFailed(settings.Logger, ex);
        }
    }

    internal string? DefaultModelId() => _defaultModelId ??= this.GetService<ChatClientMetadata>()?.DefaultModelId;

    /// <summary>Where the app of a call came from; <see cref="Id"/> is <see langword="null"/> when there is none.</summary>
    private readonly record struct App(string? Id, string Origin, string Outcome = "", string Reason = "", DifySession? Session = null)
    {
        /// <summary>The app <paramref name="id"/> names, as OpenAI receives it, or <see langword="null"/> when it names none.</summary>
        public static App? Of(string? id, string origin)
        {
            if (string.IsNullOrWhiteSpace(id))
            {
                return null;
            }

            string sent = WireMetadata.Normalize(id, WireMetadata.MaxValueLength);
            return ReferenceEquals(sent, id) || !string.IsNullOrWhiteSpace(sent) ? new App(sent, origin) : null;
        }
    }

    /// <summary>Whether <paramref name="options"/> carry the decision of another layer that is calling its inner client right
    /// now, in the same tool invocation: a stacked layer reached by that call, which covers this one (it tags, records and
    /// enforces). A tool's request made with the loop's options runs in a newer tool invocation and is a call of its own.</summary>
    private bool IsCovered(ChatOptions? options) =>
        DifyRequestDecision.Of(options) is { InCall: true } outer && outer.Settings.Layer != this && outer.Tool == FunctionInvokingChatClient.CurrentContext;

    private TagPairs Tags(string appId, string? source) =>
        _tags is { } last && last.AppId == appId && last.Source == source ? last : _tags = new TagPairs(appId, source);
}
