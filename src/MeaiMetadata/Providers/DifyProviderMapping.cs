using Microsoft.Extensions.AI;

namespace MeaiMetadata.Providers;

/// <summary>Puts the tags of one request on one provider's raw request options (what <see cref="ChatOptions.RawRepresentationFactory"/> returns).</summary>
/// <remarks>
/// <para>
/// The middleware holds an ordered list of mappings (<see cref="DifyMetadataOptions.ProviderMappings"/>, by default
/// <see cref="OpenAIChatCompletions"/> then <see cref="OpenAIResponses"/>). For each request, in one place, it calls the
/// caller's own factory first; when that returned raw options, the first mapping that <see cref="CanApply"/> them merges
/// into them; when it returned nothing, the first mapping that <see cref="CanCreateFor"/> the provider client creates them,
/// then merges into them. When no mapping applies, the raw options go out untouched.
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

    /// <summary>Returns whether this mapping creates the raw options for <paramref name="providerClient"/> when the caller supplied none.</summary>
    /// <param name="providerClient">The innermost client, as handed to <see cref="ChatOptions.RawRepresentationFactory"/>.</param>
    /// <param name="streaming">Whether the request streams (some providers take another raw type then).</param>
    /// <returns><see langword="true"/> to have <see cref="CreateRawOptions"/> and then <see cref="Apply"/> called.</returns>
    public abstract bool CanCreateFor(IChatClient providerClient, bool streaming);

    /// <summary>Creates empty raw options of the type <paramref name="providerClient"/> consumes.</summary>
    /// <param name="providerClient">The innermost client.</param>
    /// <param name="streaming">Whether the request streams.</param>
    /// <returns>New raw options, for this request only.</returns>
    public abstract object CreateRawOptions(IChatClient providerClient, bool streaming);

    /// <summary>Puts the tags on <paramref name="rawOptions"/>, which belong to this request alone.</summary>
    /// <param name="rawOptions">The raw options, of a type <see cref="CanApply"/> accepted or <see cref="CreateRawOptions"/> created.</param>
    /// <param name="context">The tags and the settings of the request.</param>
    /// <returns><see langword="true"/> when the tags were attached; <see langword="false"/> when the request's own settings
    /// (for example <c>store: false</c>) keep them off.</returns>
    public abstract bool Apply(object rawOptions, in DifyMappingContext context);
}
