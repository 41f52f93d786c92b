using Microsoft.Extensions.AI;
using OpenAI.Responses;

#pragma warning disable OPENAI001 // The Responses API types are marked experimental by the OpenAI SDK.

namespace MeaiMetadata.Providers;

/// <summary>OpenAI Responses: <see cref="CreateResponseOptions.Metadata"/>; the service stores responses by default.</summary>
internal sealed class OpenAIResponsesMapping : DifyProviderMapping
{
    public override string Name => "responses";

    public override bool CanApply(object rawOptions) => rawOptions is CreateResponseOptions;

    public override bool CanCreateFor(IChatClient providerClient, bool streaming) => providerClient.GetService(typeof(ResponsesClient)) is not null;

    public override object CreateRawOptions(IChatClient providerClient, bool streaming) => new CreateResponseOptions();

    public override bool Apply(object rawOptions, in DifyMappingContext context)
    {
        var options = (CreateResponseOptions)rawOptions;

        // The reference attaches nothing to a request that turned storage off explicitly.
        if (options.StoredOutputEnabled is false)
        {
            Log.StoreNotEnabled(context.Logger, Name);
            return false;
        }

        // Unset store means "stored" on the Responses API, so metadata goes on even when the policy leaves it unset.
        options.StoredOutputEnabled = context.DecideStore(options.StoredOutputEnabled);
        context.MergeOpenAI(options.Metadata, Name);
        return true;
    }
}
