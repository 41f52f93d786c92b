using Microsoft.Extensions.AI;
using OpenAI.Chat;

namespace MeaiMetadata.Providers;

/// <summary>OpenAI Chat Completions: <see cref="ChatCompletionOptions.Metadata"/>, accepted only with <c>store: true</c>.</summary>
internal sealed class OpenAIChatCompletionsMapping : ProviderMapping
{
    public static OpenAIChatCompletionsMapping Instance { get; } = new();

    public override string Api => "chat.completions";

    public override bool Handles(object rawOptions) => rawOptions is ChatCompletionOptions;

    public override bool Serves(IChatClient providerClient) => providerClient.GetService(typeof(ChatClient)) is not null;

    public override object CreateRawOptions() => new ChatCompletionOptions();

    public override bool Apply(object rawOptions, in TaggingRequest request)
    {
        var options = (ChatCompletionOptions)rawOptions;

        // OpenAI rejects metadata on Chat Completions unless store is true: without it, attach nothing.
        if (request.DecideStore(options.StoredOutputEnabled) is not true)
        {
            Log.StoreNotEnabled(request.Settings.Logger, Api);
            return false;
        }

        options.StoredOutputEnabled = true;
        request.MergeInto(options.Metadata, Api);
        return true;
    }
}
