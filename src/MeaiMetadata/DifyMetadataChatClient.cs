using System.Collections.ObjectModel;
using MeaiMetadata.Providers;
using MeaiMetadata.Tagging;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MeaiMetadata;

/// <summary>A delegating chat client that tags every request with the calling app's id as OpenAI request metadata.</summary>
/// <remarks>
/// <para>
/// For each request made inside a <see cref="DifySession"/> (or for which <see cref="DifyMetadataOptions.AppIdResolver"/>
/// returns an id), the client passes on a clone of the caller's <see cref="ChatOptions"/> whose
/// <see cref="ChatOptions.RawRepresentationFactory"/> adds <c>metadata {dify_app_id, dify_source}</c> and <c>store</c> to the
/// OpenAI request (Chat Completions or Responses), and whose <see cref="ChatOptions.AdditionalProperties"/> carry the same
/// metadata and store flag for other layers and providers. The caller's objects are never changed.
/// </para>
/// <para>
/// It never breaks a request: an explicit <c>store: false</c> is respected, OpenAI's limits are kept, and when no app id can
/// be found the request goes out untouched.
/// </para>
/// <para>This type is thread-safe: one instance serves concurrent requests.</para>
/// </remarks>
public sealed class DifyMetadataChatClient : DelegatingChatClient
{
    private static readonly object s_true = true;

    private readonly DifyMetadataSettings _settings;

    // The tags of the last id returned by the resolver: a resolver that keeps returning the same id normalizes it once.
    private DifyTagSet? _lastResolved;

    /// <summary>Initializes a new instance of the <see cref="DifyMetadataChatClient"/> class.</summary>
    /// <param name="innerClient">The client to pass tagged requests to.</param>
    /// <param name="options">The options; <see langword="null"/> for the defaults. They are read once, here.</param>
    /// <param name="logger">The logger; <see langword="null"/> for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="innerClient"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An option has a value OpenAI would reject (for example a source marker over 512 characters).</exception>
    public DifyMetadataChatClient(IChatClient innerClient, DifyMetadataOptions? options = null, ILogger? logger = null)
        : base(innerClient)
    {
        _settings = DifyMetadataSettings.Create(options ?? new DifyMetadataOptions(), logger ?? NullLogger.Instance);
    }

    /// <inheritdoc />
    public override Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        base.GetResponseAsync(messages, Tag(options), cancellationToken);

    /// <inheritdoc />
    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        base.GetStreamingResponseAsync(messages, Tag(options), cancellationToken);

    /// <summary>Returns the options to pass on: the caller's own instance when the request is not tagged, else a tagged clone.</summary>
    private ChatOptions? Tag(ChatOptions? options)
    {
        DifyMetadataSettings settings = _settings;
        if (!settings.Enabled)
        {
            return options;
        }

        Func<IChatClient, object?>? callerFactory = options?.RawRepresentationFactory;
        if (RawOptionsTagger.IsTagging(callerFactory))
        {
            Log.NotTagged(settings.Logger, "tagged already by an outer layer");
            return options;
        }

        DifyTagSet? tags = FindTags(settings);
        if (tags is null)
        {
            return options;
        }

        AdditionalPropertiesDictionary? callerProperties = options?.AdditionalProperties;
        bool callerRequestedStore = false;
        if (callerProperties is not null && callerProperties.TryGetValue(DifyMetadataKeys.StoreProperty, out object? store))
        {
            bool? flag = CallerMetadata.ReadFlag(store);
            if (flag is false)
            {
                Log.NotTagged(settings.Logger, "the caller set store to false");
                return options;
            }

            callerRequestedStore = flag is true;
        }

        Log.Tagging(settings.Logger, tags.AppId);

        ChatOptions tagged = options?.Clone() ?? new ChatOptions();
        tagged.RawRepresentationFactory = tags.GetRawRepresentationFactory(settings, callerFactory, callerRequestedStore);

        if (settings.AdditionalPropertiesEnabled &&
            (settings.StorePolicy == DifyStorePolicy.EnableWhenUnset || callerRequestedStore))
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

    /// <summary>Finds the tags of the current request: from the resolver when one is set, else from the session.</summary>
    private DifyTagSet? FindTags(DifyMetadataSettings settings)
    {
        if (settings.AppIdResolver is not { } resolver)
        {
            if (DifySession.Current is not { } session)
            {
                Log.NotTagged(settings.Logger, "no session");
                return null;
            }

            DifyTagSet? sessionTags = session.GetTags(settings.Source);
            if (sessionTags is null)
            {
                Log.NotTagged(settings.Logger, "the session's app id is empty");
            }

            return sessionTags;
        }

        string? appId;
        try
        {
            appId = resolver();
        }
#pragma warning disable CA1031 // A failing resolver means an untagged request, never a failed one.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.ResolverFailed(settings.Logger, ex);
            return null;
        }

        if (string.IsNullOrEmpty(appId))
        {
            Log.NotTagged(settings.Logger, "the resolver returned no app id");
            return null;
        }

        DifyTagSet? last = _lastResolved;
        if (last is not null && string.Equals(last.InputAppId, appId, StringComparison.Ordinal) &&
            string.Equals(last.Source, settings.Source, StringComparison.Ordinal))
        {
            return last;
        }

        last = new DifyTagSet(appId, settings.Source);
        _lastResolved = last;
        return last;
    }

    private static ReadOnlyDictionary<string, string> MergeCallerMetadata(object? callerMetadata, DifyTagSet tags, DifyMetadataSettings settings)
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
}
