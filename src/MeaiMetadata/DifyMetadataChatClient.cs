using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using MeaiMetadata.Diagnostics;
using MeaiMetadata.Providers;
using MeaiMetadata.Tagging;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MeaiMetadata;

/// <summary>A delegating chat client that tags every request with the calling app's id as OpenAI request metadata.</summary>
/// <remarks>
/// <para>
/// For each request made inside a <see cref="DifySession"/> (or for which <see cref="DifyMetadataOptions.AppIdResolver"/>
/// returns an id, or whose <see cref="Activity"/> carries the baggage item <c>dify.app_id</c>), the client passes on a clone
/// of the caller's <see cref="ChatOptions"/> whose <see cref="ChatOptions.RawRepresentationFactory"/> adds
/// <c>metadata {dify_app_id, dify_source}</c> and <c>store</c> to the OpenAI request (Chat Completions or Responses), and
/// whose <see cref="ChatOptions.AdditionalProperties"/> carry the same metadata and store flag for other layers and
/// providers. The caller's objects are never changed.
/// </para>
/// <para>
/// It never breaks a request: an explicit <c>store: false</c> is respected, OpenAI's limits are kept, and when no app id can
/// be found the request goes out untouched.
/// </para>
/// <para>
/// It reports the meter <see cref="DifyMetadataTelemetry.MeterName"/> (requests by outcome, tokens by app) and sets the tag
/// <c>dify.app_id</c> on the current <see cref="Activity"/> of a tagged request.
/// </para>
/// <para>This type is thread-safe: one instance serves concurrent requests.</para>
/// </remarks>
public sealed class DifyMetadataChatClient : DelegatingChatClient
{
    private static readonly object s_true = true;

    private readonly ILogger _logger;
    private readonly DifyMetadataMetrics _metrics;
    private readonly IDisposable? _optionsSubscription;

    // Replaced as a whole when options change, so a request always sees one consistent snapshot.
    private volatile DifyMetadataSettings _settings;

    // This layer's tag sets (its raw-options factories) per app, over the process-wide values: weak on the values, emptied
    // on Dispose, so nothing of the layer outlives it. Created on first use (a layer that never sees a cached app id pays
    // nothing). _lastFound short-cuts the table for a repeated app. Each tag set keeps the last caller factory per call
    // shape of its app: at most two per cached app id while this layer lives.
    private static readonly ConditionalWeakTable<DifyTagValues, DifyTagSet>.CreateValueCallback s_newTagSet = static values => new DifyTagSet(values);
    private ConditionalWeakTable<DifyTagValues, DifyTagSet>? _tagSets;
    private DifyTagSet? _lastFound;

    private string? _defaultModelId;

    /// <summary>Initializes a new instance of the <see cref="DifyMetadataChatClient"/> class.</summary>
    /// <param name="innerClient">The client to pass tagged requests to.</param>
    /// <param name="options">The options; <see langword="null"/> for the defaults. They are read once, here.</param>
    /// <param name="logger">The logger; <see langword="null"/> for none.</param>
    /// <param name="meterFactory">The factory of the meter to report on; <see langword="null"/> for a shared meter.</param>
    /// <exception cref="ArgumentNullException"><paramref name="innerClient"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An option has a value OpenAI would reject (for example a source marker over 512 characters).</exception>
#pragma warning disable RS0027 // The overload with more parameters takes an IOptionsMonitor in second place: no call can be ambiguous.
    public DifyMetadataChatClient(IChatClient innerClient, DifyMetadataOptions? options = null, ILogger? logger = null, IMeterFactory? meterFactory = null)
#pragma warning restore RS0027
        : base(innerClient)
    {
        _logger = logger ?? NullLogger.Instance;
        _metrics = new DifyMetadataMetrics(meterFactory);
        _settings = DifyMetadataSettings.Create(options ?? new DifyMetadataOptions(), _logger, _metrics);
    }

    /// <summary>Initializes a new instance of the <see cref="DifyMetadataChatClient"/> class that follows live option changes.</summary>
    /// <param name="innerClient">The client to pass tagged requests to.</param>
    /// <param name="options">The options monitor; a change takes effect on the next request.</param>
    /// <param name="optionsName">The name of the options to use; <see langword="null"/> for the default ones.</param>
    /// <param name="logger">The logger; <see langword="null"/> for none.</param>
    /// <param name="meterFactory">The factory of the meter to report on; <see langword="null"/> for a shared meter.</param>
    /// <exception cref="ArgumentNullException"><paramref name="innerClient"/> or <paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="OptionsValidationException">The current options are invalid.</exception>
    /// <remarks>A change to invalid options is refused (by the options validation registered with <c>AddDifyMetadata</c>,
    /// or, for a value it does not check, by this client with an error in the log): the previous options stay in force.
    /// The client subscribes to option changes; dispose it when it is built per scope.</remarks>
    public DifyMetadataChatClient(
        IChatClient innerClient, IOptionsMonitor<DifyMetadataOptions> options, string? optionsName, ILogger? logger, IMeterFactory? meterFactory)
        : this(innerClient, options, optionsName, configure: null, logger, meterFactory)
    {
    }

    internal DifyMetadataChatClient(
        IChatClient innerClient, IOptionsMonitor<DifyMetadataOptions> options, string? optionsName, Action<DifyMetadataOptions>? configure, ILogger? logger, IMeterFactory? meterFactory)
        : base(innerClient)
    {
        ArgumentNullException.ThrowIfNull(options);

        string name = optionsName ?? Options.DefaultName;
        _logger = logger ?? NullLogger.Instance;
        _metrics = new DifyMetadataMetrics(meterFactory);
        _settings = Snapshot(options.Get(name), configure);
        _optionsSubscription = options.OnChange((changed, changedName) =>
        {
            if (!string.Equals(changedName ?? Options.DefaultName, name, StringComparison.Ordinal))
            {
                return;
            }

            try
            {
                _settings = Snapshot(changed, configure);
            }
#pragma warning disable CA1031 // A bad change (or a throwing configure callback) must not escape onto the reload thread.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.OptionsChangeRejected(_logger, ex.Message);
            }
        });
    }

    /// <inheritdoc />
    public override Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ChatOptions? sent = Tag(options, streaming: false, out DifyTagSet? tags, out DifyMetadataSettings settings);
        Task<ChatResponse> response = base.GetResponseAsync(messages, sent, cancellationToken);
        return tags is not null && _metrics.Tokens.Enabled ? RecordUsageAsync(response, tags, settings, sent) : response;
    }

    /// <inheritdoc />
    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ChatOptions? sent = Tag(options, streaming: true, out DifyTagSet? tags, out DifyMetadataSettings settings);
        IAsyncEnumerable<ChatResponseUpdate> updates = base.GetStreamingResponseAsync(messages, sent, cancellationToken);
        return tags is not null && _metrics.Tokens.Enabled ? RecordUsageAsync(updates, tags, settings, sent, cancellationToken) : updates;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _optionsSubscription?.Dispose();
            _tagSets?.Clear(); // the values stay cached; this layer's factories (and what they hold) go now, not at finalization
            _lastFound = null;
        }

        base.Dispose(disposing);
    }

    private DifyMetadataSettings Snapshot(DifyMetadataOptions options, Action<DifyMetadataOptions>? configure)
    {
        if (configure is not null)
        {
            options = options.Clone();
            configure(options);
        }

        return DifyMetadataSettings.Create(options, _logger, _metrics);
    }

    /// <summary>Returns the options to pass on: the caller's own instance when the request is not tagged, else a tagged clone.</summary>
    /// <param name="options">The caller's options.</param>
    /// <param name="streaming">Whether the request streams.</param>
    /// <param name="tags">The tags of the app the request belongs to, when one is known (tagged or not).</param>
    /// <param name="settings">The settings the decision was made with.</param>
    private ChatOptions? Tag(ChatOptions? options, bool streaming, out DifyTagSet? tags, out DifyMetadataSettings settings)
    {
        settings = _settings;
        tags = null;
        if (!settings.Enabled)
        {
            settings.Count(DifyMetadataMetrics.Disabled);
            return options;
        }

        Func<IChatClient, object?>? callerFactory = options?.RawRepresentationFactory;
        if (RawOptionsTagger.IsTagging(callerFactory))
        {
            Log.NotTagged(settings.Logger, "tagged already by an outer layer");
            return options;
        }

        tags = FindTags(settings);
        if (tags is null)
        {
            return options;
        }

        AdditionalPropertiesDictionary? callerProperties = options?.AdditionalProperties;
        bool? callerStore = null;
        if (callerProperties is not null && callerProperties.TryGetValue(DifyMetadataKeys.StoreProperty, out object? store))
        {
            callerStore = CallerMetadata.ReadFlag(store);
            if (callerStore is false && callerFactory is null)
            {
                // Nothing to tag and no caller raw options that could carry metadata: the request goes as it is.
                Log.NotTagged(settings.Logger, "the caller set store to false");
                settings.Count(DifyMetadataMetrics.StoreDisabled, tags);
                return options;
            }
        }

        ChatOptions tagged = options?.Clone() ?? new ChatOptions();
        tagged.RawRepresentationFactory = tags.GetRawRepresentationFactory(settings, callerFactory, callerStore, streaming);
        if (callerStore is false)
        {
            // The raw options the caller builds are still checked, so that they cannot carry a dify_app_id of their own.
            Log.NotTagged(settings.Logger, "the caller set store to false");
            return tagged;
        }

        Log.Tagging(settings.Logger, tags.AppId);
        Activity.Current?.SetTag(DifyMetadataTelemetry.AppIdTag, tags.AppId);

        if (settings.AdditionalPropertiesEnabled &&
            (settings.StorePolicy == DifyStorePolicy.EnableWhenUnset || callerStore is true))
        {
            AdditionalPropertiesDictionary properties = tagged.AdditionalProperties ??= [];
            properties[DifyMetadataKeys.MetadataProperty] =
                callerProperties is not null && callerProperties.TryGetValue(DifyMetadataKeys.MetadataProperty, out object? callerMetadata)
                    ? MergeCallerMetadata(callerMetadata, tags, settings)
                    : tags.Pairs;
            properties[DifyMetadataKeys.StoreProperty] = s_true;
        }

        return tagged;
    }

    /// <summary>Finds the tags of the current request: from the resolver when one is set, else the session, else baggage.</summary>
    private DifyTagSet? FindTags(DifyMetadataSettings settings)
    {
        string? appId;
        if (settings.AppIdResolver is { } resolver)
        {
            try
            {
                appId = resolver();
            }
#pragma warning disable CA1031 // A failing resolver means an untagged request, never a failed one.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.ResolverFailed(settings.Logger, ex);
                settings.Count(DifyMetadataMetrics.ResolverFailed);
                return null;
            }
        }
        else if (DifySession.Current is { } session)
        {
            DifyTagValues? sessionValues = session.GetValues(settings.Source);
            if (sessionValues is null)
            {
                Log.NotTagged(settings.Logger, "the session's app id is empty");
                settings.Count(DifyMetadataMetrics.NoSession);
                return null;
            }

            return TagSetFor(sessionValues);
        }
        else
        {
            appId = settings.AppIdFromBaggage ? Activity.Current?.GetBaggageItem(DifyMetadataTelemetry.AppIdTag) : null;
        }

        if (string.IsNullOrEmpty(appId))
        {
            Log.NotTagged(settings.Logger, settings.AppIdResolver is null ? "no session" : "the resolver returned no app id");
            settings.Count(DifyMetadataMetrics.NoSession);
            return null;
        }

        DifyTagSet? last = _lastFound;
        if (last is not null && string.Equals(last.InputAppId, appId, StringComparison.Ordinal) &&
            string.Equals(last.Source, settings.Source, StringComparison.Ordinal))
        {
            return last;
        }

        return TagSetFor(DifyTagValuesCache.Get(appId, settings.Source));
    }

    /// <summary>Gets this layer's tag set over <paramref name="values"/>: the last one, one from this layer's table, or new.</summary>
    private DifyTagSet TagSetFor(DifyTagValues values)
    {
        DifyTagSet? tags = _lastFound;
        if (tags is null || !ReferenceEquals(tags.Values, values))
        {
            // Values the process-wide cache did not keep die with their session or request: no table entry for them.
            tags = values.IsShared
                ? LazyInitializer.EnsureInitialized(ref _tagSets).GetValue(values, s_newTagSet)
                : new DifyTagSet(values);
            _lastFound = tags;
        }

        return tags;
    }

    private static IReadOnlyDictionary<string, string> MergeCallerMetadata(object? callerMetadata, DifyTagSet tags, DifyMetadataSettings settings)
    {
        try
        {
            var merged = new Dictionary<string, string>(StringComparer.Ordinal);
            if (!CallerMetadata.TryCopy(callerMetadata, merged))
            {
                Log.UnreadableCallerMetadata(settings.Logger, callerMetadata!.GetType().FullName ?? "?");
            }

            MergeReport report = MetadataMerge.Apply(merged, tags);
            Log.MergeReported(settings.Logger, report, "AdditionalProperties");
            return new ReadOnlyDictionary<string, string>(merged);
        }
#pragma warning disable CA1031 // A caller's unreadable metadata must not fail the request: the tags alone go on.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TaggingFailed(settings.Logger, ex);
            return tags.Pairs;
        }
    }

    private async Task<ChatResponse> RecordUsageAsync(Task<ChatResponse> responseTask, DifyTagSet tags, DifyMetadataSettings settings, ChatOptions? options)
    {
        ChatResponse response = await responseTask.ConfigureAwait(false);
        _metrics.RecordUsage(response.Usage, tags, RequestModel(options), settings.MaxMetricAppIds);
        return response;
    }

    private async IAsyncEnumerable<ChatResponseUpdate> RecordUsageAsync(
        IAsyncEnumerable<ChatResponseUpdate> updates, DifyTagSet tags, DifyMetadataSettings settings, ChatOptions? options,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        UsageDetails? usage = null;
        await foreach (ChatResponseUpdate update in updates.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            foreach (AIContent content in update.Contents)
            {
                if (content is UsageContent usageContent)
                {
                    (usage ??= new UsageDetails()).Add(usageContent.Details);
                }
            }

            yield return update;
        }

        _metrics.RecordUsage(usage, tags, RequestModel(options), settings.MaxMetricAppIds);
    }

    private string? RequestModel(ChatOptions? options) =>
        options?.ModelId ?? (_defaultModelId ??= this.GetService<ChatClientMetadata>()?.DefaultModelId);
}
