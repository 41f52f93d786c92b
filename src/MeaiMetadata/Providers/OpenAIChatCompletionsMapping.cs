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

    public override bool Apply(object rawOptions, in DifyMappingContext context)
    {
        var options = (ChatCompletionOptions)rawOptions;

        // OpenAI rejects metadata on Chat Completions unless store is true: without it, attach nothing.
        if (context.DecideStore(options.StoredOutputEnabled) is not true)
        {
            Log.StoreNotEnabled(context.Logger, Name);
            context.RemoveReservedKeys(options.Metadata);
            return false;
        }

        options.StoredOutputEnabled = true;
        context.MergeOpenAI(options.Metadata, Name);
        return true;
    }
}
