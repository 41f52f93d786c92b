using System.Collections.ObjectModel;
using System.Diagnostics;
using MeaiMetadata.Diagnostics;
using MeaiMetadata.Providers;
using MeaiMetadata.Tagging;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Decision;

/// <summary>Makes the one decision of a request and the options that carry it: the only place where the layer decides.</summary>
internal static class DifyDecider
{
    private static readonly object s_true = true;
    private static readonly object s_false = false;

    /// <summary>Decides the request about to be sent with <paramref name="options"/>.</summary>
    /// <param name="settings">The layer's settings.</param>
    /// <param name="innerClient">The layer's inner client, through which the provider at the end of the pipeline is found.</param>
    /// <param name="options">The caller's options, never changed.</param>
    /// <param name="streaming">Whether the request streams.</param>
    /// <param name="sent">The options to pass on: the caller's own instance, or a clone that carries the decision.</param>
    /// <param name="passOutcome">For a request without a decision, the outcome to count it with; <see langword="null"/>
    /// when another layer's request reports it.</param>
    /// <param name="innerIgnoresProperties">Whether <paramref name="innerClient"/> reads none of the <c>AdditionalProperties</c>
    /// entries the layer writes (it is Microsoft.Extensions.AI.OpenAI's own client, <see cref="OpenAIProviderClients"/>).</param>
    /// <returns>The request of a known app, or <see langword="null"/> when there is none to decide here.</returns>
    public static DifyRequest? Decide(
        DifyMetadataSettings settings, IChatClient innerClient, ChatOptions? options, bool streaming, out ChatOptions? sent, out string? passOutcome,
        bool innerIgnoresProperties)
    {
        sent = options;
        passOutcome = null;
        if (!settings.Enabled)
        {
            passOutcome = DifyMetadataMetrics.Disabled;
            return null;
        }

        AppIdLookup found = default;
        try
        {
            DifyRequest? prior = DifyRequest.Of(options?.RawRepresentationFactory);
            found = AppIdLookup.Find(settings, options, prior);
            if (found.AppId is null)
            {
                Log.NotTagged(settings.Logger, found.Reason!);
                passOutcome = found.Outcome;
                if (prior is not null)
                {
                    // Options tagged earlier for an app that is not current now: pass on what the caller gave, untagged.
                    sent = prior.CallerInputsOn(options!).ApplyTo(options);
                }
                else
                {
                    sent = WithoutCallAppId(options); // an empty, unreadable or ignored call app id is not passed on either
                }

                return null;
            }

            string appId = MetadataText.Normalize(found.AppId, MetadataLimits.MaxValueLength);
            DifyProviderMapping? mapping = settings.MappingFor(innerClient, streaming);
            if (prior is not null &&
                string.Equals(prior.Decision.AppId, appId, StringComparison.Ordinal) &&
                ReferenceEquals(prior.Decision.Mapping, mapping) &&
                prior.Decision.IsStreaming == streaming &&
                prior.Decision.Session is not { IsEnded: true })
            {
                // Tagged for this app and this provider already (an outer layer, or the same options passing again): one
                // set of tags, reported once, by the request that made them.
                Log.AlreadyTagged(settings.Logger);
                sent = WithoutCallAppId(options);
                return null;
            }

            CallerInputs caller = prior?.CallerInputsOn(options!) ?? CallerInputs.Of(options);
            bool? callerStore = caller.HasStore ? CallerMetadata.ReadFlag(caller.Store) : null;
            bool? store = callerStore ?? (settings.StorePolicy == DifyStorePolicy.EnableWhenUnset ? true : null);
            bool isPoll = options?.ContinuationToken is not null;
            bool tagged = !isPoll && (mapping?.AttachesMetadata(store) ?? store is not false);
            string? outcome =
                isPoll ? null :
                !tagged ? DifyMetadataMetrics.StoreDisabled :
                mapping is null ? DifyMetadataMetrics.UnsupportedProvider :
                DifyMetadataMetrics.Attached;

            var decision = new DifyRequestDecision(appId, settings.Source, found.Origin, tagged, store, streaming, outcome, mapping, settings.Logger, found.Session);
            var request = new DifyRequest(decision, settings, caller);
            if (!isPoll)
            {
                sent = Compose(options, request, settings, unread: innerIgnoresProperties && mapping is not null); // no mapping: the channel is all there is
            }
            else
            {
                sent = WithoutCallAppId(options); // a poll carries nothing of the layer's, nor the key
            }

            Report(decision, callerStore, isPoll);
            return request;
        }
#pragma warning disable CA1031 // Nothing a caller hands in may fail the request: it goes out as the caller built it.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.CallerOptionsUnreadable(settings.Logger, ex);
            passOutcome = DifyMetadataMetrics.TaggingFailed;
            sent = found.AppId is { Length: > 0 } ? WithoutReservedKeysOnTheWire(options, settings, streaming) : options;
            try
            {
                sent = WithoutCallAppId(sent);
            }
#pragma warning disable CA1031 // The caller's own objects failed once already: the request goes as the caller built it.
            catch (Exception)
#pragma warning restore CA1031
            {
            }

            return null;
        }
    }

    /// <summary>The options without the call's own app id (a clone), which no layer inside receives; the caller's options
    /// when they carry none.</summary>
    private static ChatOptions? WithoutCallAppId(ChatOptions? options) =>
        CallerInputs.HasCallAppId(options) ? CallerInputs.Of(options).ApplyTo(options) : options;

    /// <summary>After a failed decision for a known app: the caller's raw options still lose any <c>dify_app_id</c>/
    /// <c>dify_source</c> of their own (no channel carries an app the layer did not choose); anything else goes as given.</summary>
    private static ChatOptions? WithoutReservedKeysOnTheWire(ChatOptions? options, DifyMetadataSettings settings, bool streaming)
    {
        try
        {
            if (options?.RawRepresentationFactory is not { } callerFactory || DifyRequest.Of(callerFactory) is not null ||
                options.Clone() is not { } clone || ReferenceEquals(clone, options))
            {
                return options;
            }

            var untagged = new DifyRequestDecision(string.Empty, null, AppIdLookup.FromSession, isTagged: false, store: null, streaming,
                DifyMetadataMetrics.TaggingFailed, mapping: null, settings.Logger);
            clone.RawRepresentationFactory = client =>
            {
                object? raw = callerFactory(client);
                try
                {
                    _ = raw is not null && settings.MappingFor(raw) is { } mapping && mapping.Apply(raw, untagged);
                }
#pragma warning disable CA1031 // The request goes as the caller built it.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Log.TaggingFailed(settings.Logger, ex);
                }

                return raw;
            };
            return clone;
        }
#pragma warning disable CA1031 // The caller's own objects failed once already: the request goes as the caller built it.
        catch (Exception)
#pragma warning restore CA1031
        {
            return options;
        }
    }

    /// <summary>The options that carry the decision: the raw-options factory and the <c>AdditionalProperties</c> channel.</summary>
    /// <param name="options">The caller's options.</param>
    /// <param name="request">The request.</param>
    /// <param name="settings">The layer's settings.</param>
    /// <param name="unread">Whether the client inside reads none of the channel's entries (Microsoft.Extensions.AI.OpenAI's
    /// own client): then the channel is written only to correct what the caller put in it.</param>
    private static ChatOptions? Compose(ChatOptions? options, DifyRequest request, DifyMetadataSettings settings, bool unread)
    {
        DifyRequestDecision decision = request.Decision;
        CallerInputs caller = request.Caller;
        CallerInputs target = caller;

        // The factory goes on whenever the wire has something to get: the tags, an explicit store flag (an explicit false
        // must reach the wire), or caller raw options that may carry a dify_app_id of their own.
        if (decision.IsTagged || decision.Store is not null || caller.Factory is not null)
        {
            target = target.WithFactory(request.Factory);
            request.FactoryInstalled = true;
        }

        // Nothing inside reads the channel and the caller gave it nothing: the raw options alone carry the decision.
        bool channel = settings.AdditionalPropertiesEnabled && (!unread || caller.HasMetadata || caller.HasStore);
        if (decision.IsTagged && channel)
        {
            IReadOnlyDictionary<string, string> metadata = caller.HasMetadata ? MergeCallerMetadata(caller.Metadata, decision) : MetadataPairs(decision);
            target = target.WithMetadata(metadata);
            request.WrittenMetadata = metadata;
            if (decision.Store is bool store)
            {
                object flag = store ? s_true : s_false;
                target = target.WithStore(flag);
                request.WrittenStore = flag;
            }
        }
        else if (caller.HasMetadata && WithoutReservedKeys(caller.Metadata, decision) is { } cleaned)
        {
            // No channel carries a dify_app_id or dify_source the layer did not choose.
            target = target.WithMetadata(cleaned);
            request.WrittenMetadata = cleaned;
        }

        return target.AreOn(options) ? options : target.ApplyTo(options);
    }

    private static void Report(DifyRequestDecision decision, bool? callerStore, bool isPoll)
    {
        if (decision.IsTagged)
        {
            Log.Tagged(decision.Logger, decision.AppId, decision.Origin, decision.Store is null ? "unset" : "true");
        }
        else
        {
            Log.AppNotTagged(
                decision.Logger,
                decision.AppId,
                decision.Origin,
                isPoll ? "a background response poll sends no model request" :
                callerStore is false ? "the caller set store to false" :
                "store is unset and the store policy leaves it unset (Chat Completions accepts metadata only with store: true)");
        }

        Activity.Current?.SetTag(DifyMetadataTelemetry.AppIdTag, decision.AppId);
    }

    private static MetadataPairs MetadataPairs(DifyRequestDecision decision) => new(decision.AppId, decision.Source);

    private static IReadOnlyDictionary<string, string> MergeCallerMetadata(object? callerMetadata, DifyRequestDecision decision)
    {
        try
        {
            var merged = new Dictionary<string, string>(StringComparer.Ordinal);
            if (!CallerMetadata.TryCopy(callerMetadata, merged))
            {
                Log.UnreadableCallerMetadata(decision.Logger, callerMetadata?.GetType().FullName ?? "null");
            }

            Log.MergeReported(decision.Logger, MetadataMerge.Apply(merged, decision.AppId, decision.Source, MetadataRules.OpenAI), "AdditionalProperties");
            return new ReadOnlyDictionary<string, string>(merged);
        }
#pragma warning disable CA1031 // A caller's unreadable metadata must not fail the request: the tags alone go on.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TaggingFailed(decision.Logger, ex);
            return MetadataPairs(decision);
        }
    }

    /// <summary>The caller's metadata without <c>dify_app_id</c>/<c>dify_source</c>, or <see langword="null"/> when it has
    /// neither (or cannot be read: then nothing of it is understood, and it is left as it is).</summary>
    private static ReadOnlyDictionary<string, string>? WithoutReservedKeys(object? callerMetadata, DifyRequestDecision decision)
    {
        try
        {
            var copy = new Dictionary<string, string>(StringComparer.Ordinal);
            if (!CallerMetadata.TryCopy(callerMetadata, copy) ||
                !(copy.Remove(DifyMetadataKeys.AppId) | copy.Remove(DifyMetadataKeys.Source)))
            {
                return null;
            }

            Log.ReservedKeysRemoved(decision.Logger);
            return new ReadOnlyDictionary<string, string>(copy);
        }
#pragma warning disable CA1031 // A caller's unreadable metadata must not fail the request.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TaggingFailed(decision.Logger, ex);
            return null;
        }
    }
}
