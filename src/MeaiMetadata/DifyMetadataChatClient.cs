using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using MeaiMetadata.Diagnostics;
using MeaiMetadata.Decision;
using MeaiMetadata.Gateways;
using MeaiMetadata.Providers;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MeaiMetadata;

/// <summary>A delegating chat client that tags every request with the calling app's id as OpenAI request metadata.</summary>
/// <remarks>
/// <para>
/// Each request gets one <see cref="DifyRequestDecision"/>, made once before it is passed on: the app id (the call's own,
/// <see cref="DifyChatOptionsExtensions.WithDifyAppId(ChatOptions, string)"/>, else the current <see cref="DifySession"/>, else <see cref="DifyMetadataOptions.AppIdResolver"/>, else the baggage item
/// <c>dify.app_id</c> of <see cref="Activity.Current"/>), whether the request is tagged, and its <c>store</c> flag. The
/// client passes on a clone of the caller's <see cref="ChatOptions"/> whose <see cref="ChatOptions.RawRepresentationFactory"/>
/// carries the decision to the OpenAI request (Chat Completions or Responses: <c>metadata {dify_app_id, dify_source}</c>
/// and <c>store</c>), and whose <see cref="ChatOptions.AdditionalProperties"/> carry the same metadata and store flag for
/// other layers and providers (not written when the inner client is Microsoft.Extensions.AI.OpenAI's own, which reads
/// neither, unless the caller's entries need correcting). The caller's objects are never changed.
/// </para>
/// <para>
/// It never breaks a request: an explicit <c>store: false</c> is respected, OpenAI's limits are kept, and when no app id can
/// be found the request goes out untouched.
/// </para>
/// <para>
/// It reports the meter <see cref="DifyMetadataTelemetry.MeterName"/> once per request when the call ends (one outcome per
/// model request sent, tokens by app) and sets the tag <c>dify.app_id</c> on the current <see cref="Activity"/> of a
/// request whose app is known.
/// </para>
/// <para>This type is thread-safe: one instance serves concurrent requests.</para>
/// </remarks>
public sealed class DifyMetadataChatClient : DelegatingChatClient
{
    private readonly ILogger _logger;
    private readonly DifyMetadataMetrics _metrics;
    private readonly IDisposable? _optionsSubscription;

    // Whether the inner client is Microsoft.Extensions.AI.OpenAI's own, which reads no AdditionalProperties entry of ours.
    private readonly bool _innerIgnoresProperties;

    // Replaced as a whole when options change, so a request always sees one consistent snapshot.
    private volatile DifyMetadataSettings _settings;

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
        _metrics = DifyMetadataMetrics.For(meterFactory);
        _innerIgnoresProperties = OpenAIProviderClients.Is(innerClient);
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
    /// <remarks>A change to invalid options is refused with one error in the log (by the options validation registered with
    /// <c>AddDifyMetadata</c>, or by this client when the options come from elsewhere): the previous options stay in force,
    /// also for clients built after the change.
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
        _metrics = DifyMetadataMetrics.For(meterFactory);
        _innerIgnoresProperties = OpenAIProviderClients.Is(innerClient);
        DifyMetadataOptions current = options.Get(name);
        _settings = Snapshot(current.RefusedFor ?? current, configure); // a refused change: the options before it
        _optionsSubscription = options.OnChange((changed, changedName) =>
        {
            if (!string.Equals(changedName ?? Options.DefaultName, name, StringComparison.Ordinal) || changed.RefusedFor is not null)
            {
                return; // another name, or a change refused (and logged) by the options validation
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
        DifyMetadataSettings settings = _settings;
        DifyRequest? request = DifyDecider.Decide(settings, InnerClient, options, streaming: false, out ChatOptions? sent, out string? outcome, _innerIgnoresProperties);
        if (request is null)
        {
            if (outcome is null)
            {
                return base.GetResponseAsync(messages, sent, cancellationToken); // an outer layer's request, headers and all
            }

            if (!cancellationToken.IsCancellationRequested)
            {
                settings.Count(outcome); // the call is the request (a cancelled token sends nothing)
            }

            return GatewayScope.IsSet
                ? SendUndecidedWithoutHeaders(messages, sent, cancellationToken) // no outer request's headers on this one
                : base.GetResponseAsync(messages, sent, cancellationToken);
        }

        // The gateway header channel: the headers of this decision are current while this call runs, and nowhere else.
        GatewayRequestHeaders? headers = GatewayRequestHeaders.For(request.Decision, settings.GatewayHeaders);
        if (headers is not null || GatewayScope.IsSet)
        {
            return SendWithHeaders(headers, settings, request, messages, sent, cancellationToken); // null: hide an outer request's
        }

        return SendDecided(settings, request, messages, sent, cancellationToken);
    }

    /// <inheritdoc />
    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        DifyMetadataSettings settings = _settings;
        DifyRequest? request = DifyDecider.Decide(settings, InnerClient, options, streaming: true, out ChatOptions? sent, out string? outcome, _innerIgnoresProperties);
        if (request is null)
        {
            if (outcome is null)
            {
                return base.GetStreamingResponseAsync(messages, sent, cancellationToken); // an outer layer's request
            }

            return GatewayScope.IsSet
                ? StreamUndecidedWithoutHeaders(settings, outcome, messages, sent, cancellationToken)
                : Undecided(settings, outcome, messages, sent, cancellationToken);
        }

        // The gateway header channel: current while the inner stream is opened and advanced, never while the caller runs.
        GatewayRequestHeaders? headers = GatewayRequestHeaders.For(request.Decision, settings.GatewayHeaders);
        if (headers is not null || GatewayScope.IsSet)
        {
            return StreamWithHeaders(headers, settings, request, messages, sent, cancellationToken); // null: hide an outer request's
        }

        // The inner stream is opened when this one is enumerated: the provider builds the request (and so asks for its raw
        // options) then, so a stream enumerated after its session ended tags nothing.
        return StreamAsync(request, messages, sent, cancellationToken);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _optionsSubscription?.Dispose();
        }

        base.Dispose(disposing);
    }

    // The closures live here, not in the public methods: their captures would cost every request, also undecided ones.
    private Task<ChatResponse> SendWithHeaders(
        GatewayRequestHeaders? headers, DifyMetadataSettings settings, DifyRequest request, IEnumerable<ChatMessage> messages, ChatOptions? sent,
        CancellationToken cancellationToken) =>
        GatewayScope.RunAsync(headers, () => SendDecided(settings, request, messages, sent, cancellationToken));

    private IAsyncEnumerable<ChatResponseUpdate> StreamWithHeaders(
        GatewayRequestHeaders? headers, DifyMetadataSettings settings, DifyRequest request, IEnumerable<ChatMessage> messages, ChatOptions? sent,
        CancellationToken cancellationToken) =>
        GatewayScope.Stream(headers, token => StreamAsync(request, messages, sent, token), cancellationToken);

    private Task<ChatResponse> SendUndecidedWithoutHeaders(IEnumerable<ChatMessage> messages, ChatOptions? sent, CancellationToken cancellationToken) =>
        GatewayScope.RunAsync(null, () => base.GetResponseAsync(messages, sent, cancellationToken));

    private IAsyncEnumerable<ChatResponseUpdate> StreamUndecidedWithoutHeaders(
        DifyMetadataSettings settings, string outcome, IEnumerable<ChatMessage> messages, ChatOptions? sent, CancellationToken cancellationToken) =>
        GatewayScope.Stream(null, token => Undecided(settings, outcome, messages, sent, token), cancellationToken);

    // A stream sends its request when it is enumerated: count it then (only while someone listens).
    private IAsyncEnumerable<ChatResponseUpdate> Undecided(
        DifyMetadataSettings settings, string outcome, IEnumerable<ChatMessage> messages, ChatOptions? sent, CancellationToken cancellationToken) =>
        settings.Metrics.Requests.Enabled
            ? CountWhenEnumeratedAsync(settings, outcome, messages, sent, cancellationToken)
            : base.GetStreamingResponseAsync(messages, sent, cancellationToken);

    private Task<ChatResponse> SendDecided(
        DifyMetadataSettings settings, DifyRequest request, IEnumerable<ChatMessage> messages, ChatOptions? sent, CancellationToken cancellationToken) =>

        // The report at the end of the call only feeds the meter: while nothing listens to it, there is nothing to wait for.
        settings.Metrics.Enabled
            ? SendAsync(request, messages, sent, cancellationToken)
            : base.GetResponseAsync(messages, sent, cancellationToken);

    private async Task<ChatResponse> SendAsync(DifyRequest request, IEnumerable<ChatMessage> messages, ChatOptions? sent, CancellationToken cancellationToken)
    {
        bool cancelledBefore = cancellationToken.IsCancellationRequested; // then nothing is sent: nothing to report
        ChatResponse? response = null;
        try
        {
            response = await base.GetResponseAsync(messages, sent, cancellationToken).ConfigureAwait(false);
            return response;
        }
        finally
        {
            if (!cancelledBefore)
            {
                Report(request, response?.Usage, sent);
            }
        }
    }

    private async IAsyncEnumerable<ChatResponseUpdate> StreamAsync(
        DifyRequest request, IEnumerable<ChatMessage> messages, ChatOptions? sent, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        bool cancelledBefore = cancellationToken.IsCancellationRequested; // then nothing is sent: nothing to report
        UsageDetails? usage = null;
        try
        {
            await foreach (ChatResponseUpdate update in base.GetStreamingResponseAsync(messages, sent, cancellationToken).ConfigureAwait(false))
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
        }
        finally
        {
            if (!cancelledBefore)
            {
                Report(request, usage, sent);
            }
        }
    }

    private async IAsyncEnumerable<ChatResponseUpdate> CountWhenEnumeratedAsync(
        DifyMetadataSettings settings, string outcome, IEnumerable<ChatMessage> messages, ChatOptions? sent,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!cancellationToken.IsCancellationRequested)
        {
            settings.Count(outcome); // a cancelled token sends nothing
        }

        await foreach (ChatResponseUpdate update in base.GetStreamingResponseAsync(messages, sent, cancellationToken).ConfigureAwait(false))
        {
            yield return update;
        }
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

    /// <summary>Reports the request when its call ends; a failure to report never replaces the call's own result.</summary>
    private void Report(DifyRequest request, UsageDetails? usage, ChatOptions? sent)
    {
        try
        {
            request.Complete(usage, RequestModel(sent));
        }
#pragma warning disable CA1031 // The answer (or the call's own exception) must reach the caller whatever reporting does.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.ReportingFailed(_settings.Logger, ex);
        }
    }

    private string? RequestModel(ChatOptions? options) =>
        options?.ModelId ?? (_defaultModelId ??= this.GetService<ChatClientMetadata>()?.DefaultModelId);
}
