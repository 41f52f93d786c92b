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

        // The reference attaches nothing to a request that turned storage off explicitly (in the raw options, or through
        // AdditionalProperties when the raw options leave it unset).
        bool? store = context.DecideStore(options.StoredOutputEnabled);
        if (store is false)
        {
            Log.StoreNotEnabled(context.Logger, Name);
            context.RemoveReservedKeys(options.Metadata);
            return false;
        }

        // Unset store means "stored" on the Responses API, so metadata goes on even when the policy leaves it unset.
        options.StoredOutputEnabled = store;
        context.MergeOpenAI(options.Metadata, Name);
        return true;
    }
}
