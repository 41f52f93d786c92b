using Microsoft.Extensions.AI;
using OpenAI.Chat;

namespace MeaiMetadata.Providers;

/// <summary>OpenAI Chat Completions: <see cref="ChatCompletionOptions.Metadata"/>, accepted only with <c>store: true</c>.</summary>
internal sealed class OpenAIChatCompletionsMapping : DifyProviderMapping
{
    public override string Name => "chat.completions";

    public override bool CanApply(object rawOptions) => rawOptions is ChatCompletionOptions;

    public override bool CanCreateFor(IChatClient providerClient, bool streaming) => providerClient.GetService(typeof(ChatClient)) is not null;

    public override object CreateRawOptions(IChatClient providerClient, bool streaming) => new ChatCompletionOptions();

    /// <summary>OpenAI rejects metadata on Chat Completions unless <c>store</c> is <see langword="true"/> (it defaults to false).</summary>
    public override bool AttachesMetadata(bool? store) => store is true;

    public override bool Apply(object rawOptions, DifyRequestDecision decision)
    {
        var options = (ChatCompletionOptions)rawOptions;
        options.StoredOutputEnabled = decision.DecideStore(options.StoredOutputEnabled); // an explicit false reaches the wire
        return OpenAIMetadata.Apply(this, options.Metadata, options.StoredOutputEnabled, decision);
    }
}
