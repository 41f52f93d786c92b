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

    // Unset store means "stored" on the Responses API, so the default rule applies: tagged unless store is false.

    public override bool Apply(object rawOptions, DifyRequestDecision decision)
    {
        var options = (CreateResponseOptions)rawOptions;
        options.StoredOutputEnabled = decision.DecideStore(options.StoredOutputEnabled); // an explicit false reaches the wire
        return OpenAIMetadata.Apply(this, options.Metadata, options.StoredOutputEnabled, decision);
    }
}
