using MeaiMetadata.Tagging;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using OpenAI.Responses;

#pragma warning disable OPENAI001 // The Responses API types are marked experimental by the OpenAI SDK.

namespace MeaiMetadata.Providers;

/// <summary>Puts the tags of one request on one provider's raw request options (what
/// <see cref="ChatOptions.RawRepresentationFactory"/> returns); add one to <see cref="DifyMetadataOptions.ProviderMappings"/>
/// to tag another provider.</summary>
/// <remarks>
/// <para>The first mapping that <see cref="CanCreateFor"/> the pipeline's provider client decides whether its requests are
/// tagged (<see cref="AttachesMetadata"/>). When the provider builds a request, the caller's own factory runs first; the
/// mapping merges into raw options it returned (or the first mapping that <see cref="CanApply"/> them does), and creates
/// them (<see cref="CreateRawOptions"/>) when it returned none.</para>
/// <para>Implementations must be thread-safe; an exception is logged and the request goes out as the caller built it.</para>
/// </remarks>
public abstract class DifyProviderMapping
{
    /// <summary>Gets the mapping for OpenAI Chat Completions (<c>ChatCompletionOptions</c>): metadata only with <c>store: true</c>.</summary>
    public static DifyProviderMapping OpenAIChatCompletions { get; } = new ChatCompletionsMapping();

    /// <summary>Gets the mapping for the OpenAI Responses API (<c>CreateResponseOptions</c>).</summary>
    public static DifyProviderMapping OpenAIResponses { get; } = new ResponsesMapping();

    /// <summary>Gets a short name of the provider API, used in logs.</summary>
    public abstract string Name { get; }

    /// <summary>Returns whether <paramref name="rawOptions"/> are this mapping's raw options type.</summary>
    public abstract bool CanApply(object rawOptions);

    /// <summary>Returns whether this mapping serves <paramref name="providerClient"/>.</summary>
    public abstract bool CanCreateFor(IChatClient providerClient, bool streaming);

    /// <summary>Creates empty raw options of the type <paramref name="providerClient"/> consumes.</summary>
    public abstract object CreateRawOptions(IChatClient providerClient, bool streaming);

    /// <summary>Returns whether a request with the <c>store</c> flag <paramref name="store"/> carries the tags.</summary>
    public virtual bool AttachesMetadata(bool? store) => store is not false;

    /// <summary>Puts the tags on <paramref name="rawOptions"/> (this request's own) when the request is tagged; otherwise
    /// removes any <c>dify_app_id</c>/<c>dify_source</c> of the caller's.</summary>
    public abstract bool Apply(object rawOptions, DifyRequestDecision decision);

    private sealed class ChatCompletionsMapping : DifyProviderMapping
    {
        public override string Name => "chat.completions";

        public override bool CanApply(object rawOptions) => rawOptions is ChatCompletionOptions;

        public override bool CanCreateFor(IChatClient providerClient, bool streaming) => providerClient.GetService(typeof(ChatClient)) is not null;

        public override object CreateRawOptions(IChatClient providerClient, bool streaming) => new ChatCompletionOptions();

        // OpenAI rejects metadata on Chat Completions unless store is true (it defaults to false).
        public override bool AttachesMetadata(bool? store) => store is true;

        public override bool Apply(object rawOptions, DifyRequestDecision decision)
        {
            var options = (ChatCompletionOptions)rawOptions;
            options.StoredOutputEnabled ??= decision.Store; // the request's own flag wins
            options.MaxOutputTokenCount = decision.CapOutput(options.MaxOutputTokenCount);
            return decision.Merge(options.Metadata, AttachesMetadata(options.StoredOutputEnabled), WireMetadata.OpenAI, Name);
        }
    }

    private sealed class ResponsesMapping : DifyProviderMapping
    {
        public override string Name => "responses";

        public override bool CanApply(object rawOptions) => rawOptions is CreateResponseOptions;

        public override bool CanCreateFor(IChatClient providerClient, bool streaming) => providerClient.GetService(typeof(ResponsesClient)) is not null;

        public override object CreateRawOptions(IChatClient providerClient, bool streaming) => new CreateResponseOptions();

        public override bool Apply(object rawOptions, DifyRequestDecision decision)
        {
            var options = (CreateResponseOptions)rawOptions;
            options.StoredOutputEnabled ??= decision.Store; // the request's own flag wins
            options.MaxOutputTokenCount = decision.CapOutput(options.MaxOutputTokenCount);
            return decision.Merge(options.Metadata, AttachesMetadata(options.StoredOutputEnabled), WireMetadata.OpenAI, Name);
        }
    }
}
