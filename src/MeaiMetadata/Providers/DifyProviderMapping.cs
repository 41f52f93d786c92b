using Microsoft.Extensions.AI;

namespace MeaiMetadata.Providers;

/// <summary>Puts the tags of one request on one provider's raw request options (what <see cref="ChatOptions.RawRepresentationFactory"/> returns).</summary>
/// <remarks>
/// <para>
/// The middleware holds an ordered list of mappings (<see cref="DifyMetadataOptions.ProviderMappings"/>, by default
/// <see cref="OpenAIChatCompletions"/> then <see cref="OpenAIResponses"/>). When it decides a request, the first mapping
/// that <see cref="CanCreateFor"/> the pipeline's provider client serves it: its <see cref="AttachesMetadata"/> rule says
/// whether the request is tagged. When the provider builds the request, the caller's own factory runs first; raw options
/// it returned that this mapping <see cref="CanApply"/> are merged into; when it returned nothing, the mapping creates them
/// (<see cref="CreateRawOptions"/>) and merges into those. Raw options of a type the provider client does not send are
/// replaced by new ones of the type it does (the client would have ignored them). When no mapping serves the provider
/// client, the first that can apply to the caller's raw options is used; when none can, the raw options go out untouched.
/// </para>
/// <para>Implementations must be thread-safe and must never throw for metadata reasons; an exception is logged and the
/// request goes out as the caller built it.</para>
/// </remarks>
public abstract class DifyProviderMapping
{
    /// <summary>Gets the mapping for OpenAI Chat Completions (<c>OpenAI.Chat.ChatCompletionOptions</c>): <c>metadata</c>, accepted only with <c>store: true</c>.</summary>
    public static DifyProviderMapping OpenAIChatCompletions { get; } = new OpenAIChatCompletionsMapping();

    /// <summary>Gets the mapping for the OpenAI Responses API (<c>OpenAI.Responses.CreateResponseOptions</c>): <c>metadata</c>.</summary>
    public static DifyProviderMapping OpenAIResponses { get; } = new OpenAIResponsesMapping();

    /// <summary>Gets a short name of the provider API, used in logs.</summary>
    public abstract string Name { get; }

    /// <summary>Returns whether <paramref name="rawOptions"/>, returned by the caller's factory, is this mapping's raw options type.</summary>
    /// <param name="rawOptions">The raw options.</param>
    /// <returns><see langword="true"/> to have <see cref="Apply"/> merge into them.</returns>
    public abstract bool CanApply(object rawOptions);

    /// <summary>Returns whether this mapping serves <paramref name="providerClient"/>: it decides whether its requests are
    /// tagged, and creates their raw options when the caller supplies none.</summary>
    /// <param name="providerClient">The client at the end of the pipeline, or a client that delegates to it (answer through
    /// <see cref="IChatClient.GetService"/>, which delegating clients pass on).</param>
    /// <param name="streaming">Whether the request streams (some providers take another raw type then).</param>
    /// <returns><see langword="true"/> when this mapping serves the client.</returns>
    public abstract bool CanCreateFor(IChatClient providerClient, bool streaming);

    /// <summary>Creates empty raw options of the type <paramref name="providerClient"/> consumes.</summary>
    /// <param name="providerClient">The innermost client.</param>
    /// <param name="streaming">Whether the request streams.</param>
    /// <returns>New raw options, for this request only.</returns>
    public abstract object CreateRawOptions(IChatClient providerClient, bool streaming);

    /// <summary>Returns whether a request of this provider with the <c>store</c> flag <paramref name="store"/> carries the tags.</summary>
    /// <param name="store">The request's <c>store</c> flag: <see langword="true"/>, <see langword="false"/>, or <see langword="null"/> for unset.</param>
    /// <returns>By default, <see langword="true"/> unless <paramref name="store"/> is <see langword="false"/> (an explicit
    /// <c>store: false</c> keeps the tags off, as the reference does on every provider).</returns>
    public virtual bool AttachesMetadata(bool? store) => store is not false;

    /// <summary>Puts the tags on <paramref name="rawOptions"/>, which belong to this request alone, when the request is
    /// tagged; otherwise removes any <c>dify_app_id</c>/<c>dify_source</c> of the caller's from them.</summary>
    /// <param name="rawOptions">The raw options, of a type <see cref="CanApply"/> accepted or <see cref="CreateRawOptions"/> created.</param>
    /// <param name="decision">The decision for the request: app id, source, <c>store</c> flag, whether it is tagged.</param>
    /// <returns><see langword="true"/> when the tags were attached.</returns>
    public abstract bool Apply(object rawOptions, DifyRequestDecision decision);
}
